"""How the pipeline is operated: the instance's run launcher for single-host deployments."""
