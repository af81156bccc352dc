"""Pure folds: reducers from events to values (the message, tool calls, stats, the retry ledger).

Nothing here touches Rx, the network, files or the clock: each is a step function over plain
values, tested by feeding it events. The operators wrap them.
"""

__all__: list[str] = []  # the reducers are imported from their modules
