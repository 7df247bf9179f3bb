"""The ``nwb-ldns`` command line: a thin shell over :mod:`nwb_ldns`."""
