"""Matomo: ``/matomo.php`` in, cleaned hits out to the Tracking API."""
