"""The reconcilers: one per kind (Service, Revision, Route, Release), each turning its
object's spec into the world and its status; they never call one another."""
