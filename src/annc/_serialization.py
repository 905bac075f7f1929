"""Keras 3's serialization format, shared by every kind of object annc can describe as a
config dict (initializers, regularizers, losses, optimizers, schedules, ...)."""
from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, Mapping, Optional, Tuple


def serialize_object(obj: Any, module: str) -> Dict[str, Any]:
    """``{"module", "class_name", "config", "registered_name"}`` for an object with
    ``get_config()``, as Keras 3 writes it."""
    return {"module": module, "class_name": type(obj).__name__, "config": obj.get_config(),
            "registered_name": None}


def class_and_config(config: Any, what: str, lookup: Callable[[str], Optional[type]],
                     custom_objects: Optional[Dict[str, Any]] = None,
                     unknown_hint: str = "") -> Tuple[Any, Dict[str, Any]]:
    """The class a serialized dict names (custom objects first, then ``lookup``) and a copy of
    its config; a ValueError naming `what` when the dict is malformed or the class unknown."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not interpret {what} config: {config!r} (expected a dict with "
                         f"'class_name' and 'config')")
    name = config["class_name"]
    cls = (custom_objects or {}).get(name) or lookup(name)
    if cls is None:
        raise ValueError(f"Unknown {what}: {name!r}.{' ' + unknown_hint if unknown_hint else ''}")
    return cls, dict(config.get("config") or {})


def deserialize_object(config: Any, what: str, lookup: Callable[[str], Optional[type]],
                       get: Callable[[Any], Any],
                       custom_objects: Optional[Dict[str, Any]] = None) -> Any:
    """An object from a name (a custom class instantiated, else ``get(name)``) or from a
    serialized dict (its class's ``from_config``)."""
    custom_objects = custom_objects or {}
    if isinstance(config, str):
        cls = custom_objects.get(config)
        return cls() if cls is not None else get(config)
    cls, cfg = class_and_config(config, what, lookup, custom_objects)
    return cls.from_config(cfg)


def get_object(identifier: Any, what: str, deserialize: Callable[[Any], Any],
               by_name: Mapping[str, type], valid_names: str) -> Any:
    """Keras's ``get`` for initializers and regularizers: None stays None, a config dict is
    deserialized, a name gives its class's default instance, a class is instantiated, and any
    other callable (an instance included) is returned as it is."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = by_name.get(identifier)
        if cls is None:
            raise ValueError(f"Unknown {what} {identifier!r}. Valid names: {valid_names}")
        return cls()
    if inspect.isclass(identifier):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret {what} identifier: {identifier!r}")
