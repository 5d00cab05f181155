"""The live projection: the faust app, the projector, the gap guard, lag and heartbeats.

What `refnet projections run` needs, and no audit tool.
"""
