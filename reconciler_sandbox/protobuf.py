"""Decode the Kubernetes protobuf request bodies kubectl's typed clients send, into JSON objects.

client-go sends built-in kinds as ``application/vnd.kubernetes.protobuf`` and never falls back
to JSON (its 415 fallback covers CBOR only), so ``kubectl create namespace|deployment|configmap``
needs this. The body is the ``k8s\\x00`` magic and a ``runtime.Unknown`` envelope (typeMeta,
raw bytes of the object's message). Messages are decoded with the field table in
``protobuf_fields.json`` (written by ``hack/protobuf-fields`` from k8s.io/api v0.37.2) and turned
into what Go's JSON encoding of the same object gives: zero scalars of non-pointer fields are left
out (they carry ``omitempty``), Time and Quantity and IntOrString become their JSON forms.
"""

from __future__ import annotations

import base64
import json
import struct
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from reconciler_sandbox import errors

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
META = "k8s.io.apimachinery.pkg.apis.meta.v1."
_PACKAGES = {"": "k8s.io.api.core.", "meta.k8s.io": "k8s.io.apimachinery.pkg.apis.meta."}


@cache
def _table() -> dict[str, dict[int, tuple[str, str, str, bool]]]:
    raw = json.loads((Path(__file__).with_name("protobuf_fields.json")).read_text())
    return {
        message: {int(number): tuple(entry) for number, entry in fields.items()}
        for message, fields in raw.items()
    }


def decode(body: bytes) -> dict[str, Any]:
    """The JSON object a protobuf request body stands for; 400 when it cannot be read."""
    if not body.startswith(MAGIC):
        raise errors.bad_request("the protobuf body does not start with the Kubernetes magic")
    try:
        envelope = dict(_fields(body[len(MAGIC) :]))
        type_meta = dict(_fields(envelope.get(1, b"")))
        api_version = type_meta.get(1, b"").decode()
        kind = type_meta.get(2, b"").decode()
        message = _message_name(api_version, kind)
        if message not in _table():
            raise errors.unsupported_media_type(f"{MEDIA_TYPE} ({api_version}, Kind={kind})")
        obj = _message(message, envelope.get(2, b""))
    except (IndexError, ValueError, UnicodeDecodeError) as exc:
        raise errors.bad_request(f"the protobuf body cannot be decoded: {exc}") from exc
    return {"apiVersion": api_version, "kind": kind, **obj}


def _message_name(api_version: str, kind: str) -> str:
    group, _, version = api_version.rpartition("/")
    package = _PACKAGES.get(group, f"k8s.io.api.{group.split('.')[0]}.")
    return f"{package}{version}.{kind}"


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(data: bytes) -> list[tuple[int, Any]]:
    """(field number, value) in wire order: an int for varints and fixed, bytes otherwise."""
    out: list[tuple[int, Any]] = []
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
        elif wire == 2:
            length, at = _varint(data, at)
            value, at = data[at : at + length], at + length
            if at > len(data):
                raise ValueError("truncated field")
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, at = int.from_bytes(data[at : at + size], "little"), at + size
        else:
            raise ValueError(f"unsupported wire type {wire}")
        out.append((number, value))
    return out


def _message(name: str, data: bytes) -> Any:
    special = _SPECIAL.get(name.removeprefix(META).removeprefix("k8s.io.apimachinery.pkg."))
    if special is not None:
        return special(dict(_fields(data)))
    table = _table()[name]
    obj: dict[str, Any] = {}
    for number, raw in _fields(data):
        entry = table.get(number)
        if entry is None:
            continue
        json_name, kind, label, pointer = entry
        if label == "map":
            pair = dict(_fields(raw))
            key = pair.get(1, b"").decode()
            obj.setdefault(json_name, {})[key] = _value(kind, pair.get(2, b""))
        elif label == "repeated":
            obj.setdefault(json_name, []).extend(_repeated(kind, raw))
        else:
            value = _value(kind, raw)
            if pointer or not _zero(value):
                obj[json_name] = value
            else:
                obj.pop(json_name, None)
    return obj


def _repeated(kind: str, raw: Any) -> list[Any]:
    if kind in ("int32", "int64", "bool") and isinstance(raw, bytes):  # packed encoding
        values, at = [], 0
        while at < len(raw):
            value, at = _varint(raw, at)
            values.append(_value(kind, value))
        return values
    return [_value(kind, raw)]


def _value(kind: str, raw: Any) -> Any:
    if kind == "string":
        return raw.decode()
    if kind == "bytes":
        return base64.b64encode(raw).decode()
    if kind == "bool":
        return bool(raw)
    if kind in ("int32", "int64"):
        return raw - (1 << 64) if raw >= 1 << 63 else raw
    if kind == "double":
        return struct.unpack("<d", raw.to_bytes(8, "little"))[0]
    return _message(kind, raw)


def _zero(value: Any) -> bool:
    return value in ("", 0, False, None) or value == {}


def _time(fields: dict[int, Any], micro: bool = False) -> str | None:
    seconds, nanos = fields.get(1, 0), fields.get(2, 0)
    if not seconds and not nanos:
        return None
    moment = datetime.fromtimestamp(seconds, UTC)
    if micro:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{nanos // 1000:06d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _int_or_string(fields: dict[int, Any]) -> int | str:
    if fields.get(1, 0) == 1:
        return fields.get(3, b"").decode()
    value = fields.get(2, 0)
    return value - (1 << 64) if value >= 1 << 63 else value


def _duration(fields: dict[int, Any]) -> str:
    nanoseconds = fields.get(1, 0)
    seconds, rest = divmod(nanoseconds, 1_000_000_000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    fraction = f"{rest / 1e9:.9f}"[1:].rstrip("0").rstrip(".") if rest else ""
    text = f"{seconds}{fraction}s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    return f"{hours}h{text}" if hours else text


def _raw_json(fields: dict[int, Any]) -> Any:
    raw = fields.get(1, b"")
    return json.loads(raw) if raw else None


_SPECIAL: dict[str, Any] = {
    "Time": _time,
    "MicroTime": lambda fields: _time(fields, micro=True),
    "Duration": _duration,
    "FieldsV1": _raw_json,
    "api.resource.Quantity": lambda fields: fields.get(1, b"").decode(),
    "util.intstr.IntOrString": _int_or_string,
    "runtime.RawExtension": _raw_json,
}
