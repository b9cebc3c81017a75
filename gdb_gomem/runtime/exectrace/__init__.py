"""The execution trace held in a core: the flight recorder's ring of raw generations
(``ring``: the bytes ``FlightRecorder.WriteTo`` would write) and their parse (``parse``).
"""
