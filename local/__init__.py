"""The local stack: the gateway and everything it needs, on 127.0.0.1."""
