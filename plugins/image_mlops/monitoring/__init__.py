"""Stage 6: KPIs, drift signals, CloudWatch metrics, dashboard, alarms, reports, retraining."""
