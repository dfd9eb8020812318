"""The ModelDeployment planner (pure) and its imperative shell."""
