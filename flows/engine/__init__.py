"""The dialogue engine: routing, the feature base, flow machines."""
