"""The Lienthong domain: plans, tasks, indicators and agencies of Resolution 57 ward
plans, their events and their rules. Pure: no I/O, no clocks, no infrastructure."""
