"""Other simulators driven by the AI Manager: the CityLearn mapping (pure, standard library
only) and its driver (run in CityLearn's own venv, talks to the server through the client SDK)."""
