"""The clusters end-to-end tests run against: the built-in sandbox and a real control plane.

``cluster`` (a fixture in tests/conftest.py) is parametrized over both; a test marked
``sandbox_only`` (it drives the sandbox's fault injection or scenario rules) runs on the sandbox
alone. The real control plane is started once per pytest run by ``hack/local-cluster up`` and
shared by its xdist workers (shared.py): each test gets its namespaces fresh.
"""
