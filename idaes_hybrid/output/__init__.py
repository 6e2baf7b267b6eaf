"""What runs leave behind: saved models (``saved``), plots, reports, the flowsheet
path's outputs (``flowsheet``) and optimization plots."""
