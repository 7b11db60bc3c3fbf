"""CloudWatch metrics hook, sensors and triggers in the Amazon provider's shape."""
