"""Meta: ``/fb/events`` from the ``fbq()`` shim in, Conversions API events out."""
