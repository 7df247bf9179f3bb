"""Every file nwb-ldns writes and reads back.

- :mod:`.outputs`: where outputs land (locks, the overwrite rule, atomic renames, repairs);
- :mod:`.nwbfile`: NWB building blocks, writing any NWBFile, reading files back (``open_latents``);
- :mod:`.spikes`: spike times from counts, for every writer and simulator;
- :mod:`.store`: generated trials batch by batch (in memory or scratch files);
- :mod:`.synthetic`, :mod:`.encoded`, :mod:`.simulated`: the three NWB files the commands write.

Binned datasets (``bin``), model dirs (``fit``) and reports (``evaluate``) are written by their
own modules through :func:`.outputs.claim` and :func:`.outputs.write_atomically`.
"""
