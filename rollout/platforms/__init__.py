"""Platforms: where revisions run, how traffic is split, where metrics come from.

ports     Runtime, TrafficRouter, MetricProvider, EventRecorder, Platform
memory    in-memory (scenario tests)
sim       rehearsal: memory runtime + simulated traffic (`--platform sim`)
"""
