"""The embedded local stack: PostgreSQL, the AWS emulator, Airflow."""
