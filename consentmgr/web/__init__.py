"""HTTP plumbing with no domain logic: headers, CSRF, origins, bodies, scripts, errors."""
