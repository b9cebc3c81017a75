"""The forensic report's other forms: its allocation rows (``allocprofile``), one HTML page
(``html``) and a pprof profile (``pprof``)."""
