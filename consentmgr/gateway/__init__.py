"""The hit flow: endpoint → consent gate → outbox → deliverer → upstream.

The shared machinery lives here (outbox, deliverer, sealing at rest, upstream
sending, counters, the forwarding check); each upstream has a subpackage with
its endpoint, its parsing and cleaning, and its sender.
"""
