"""Reports: tables and text computed from results, never written in advance."""
