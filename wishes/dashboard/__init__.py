"""The managers' dashboard: figures aggregated in SQL, their statistics, downloads, report."""
