"""Session-layer kernels: TCP stream prefixes, and parsers of TLS, HTTP, DNS over them."""
