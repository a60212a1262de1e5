"""Pretraining methods: each wires an encoder, heads and a loss from ``wearfm.objectives``.

Importing this package registers every method; add one import line per method module.
"""

from wearfm.methods.base import METHODS, Method, MethodContext, create_method, list_methods, register_method

__all__ = ["METHODS", "Method", "MethodContext", "create_method", "list_methods", "register_method"]
