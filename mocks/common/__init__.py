"""Code the mock servers share: the error shape and input helpers."""
