"""The retry ledger: what of each attempt at a streamed answer is delivered downstream.

When a stream fails and is tried again, the new attempt says much of what the failed one already
said. ``RetryLedger`` decides, event by event, what of each attempt a consumer gets, so that it sees
one continuous answer: nothing lost, nothing repeated, and nothing it has to take back without
being told. It is a pure state machine: events in, events out, no Rx, no clock, no I/O.
``streamkit.operators.retry_with_backoff`` owns one per subscription and wires it to attempts.

Vocabulary
==========

An *attempt* is one run of the source (attempt 1), or of a restart or continuation of it (2, 3,
...). The owner tells the ledger where each later attempt starts (``begin_attempt`` for a restart,
``begin_continuation`` for a continuation), feeds it that attempt's events through
``step(event, attempt)``, and, if the attempt completes rather than fails, calls
``end_attempt(attempt)``. Whatever these return goes downstream, in order, and nothing else does.

*Content* is what an answer consists of: text (answer text, each kind of reasoning text, refusal
text, each per choice), tool calls, and each choice's ``Finish``. ``StreamStart``, ``Usage``,
``Retrying`` and ``Rewind`` are not content: they are never compared between attempts.

*Delivered* is the content the ledger has sent downstream since the start, or since the last
``Rewind``: exactly what a consumer holds that discards everything when it sees ``Rewind``. The
ledger keeps it as a list of *segments* in the order sent: a run of text of one kind for one
choice, a whole tool call (identified by choice, name and arguments: ids differ between attempts),
or a ``Finish``. Text is kept as the pieces it was sent in, never re-copied whole.

The rules
=========

1. Delivered only grows, and only at its end, by exactly what the ledger sends. The one exception
   is a ``Rewind``, which empties it; the ledger sends the ``Rewind`` before anything that follows
   it, so the consumer's view and the ledger's never disagree.

2. Every choice's ``StreamStart`` is sent once, by the first attempt that starts the choice; later
   attempts' are dropped. A ``Rewind`` does not undo it: the choice exists, only its content is
   voided.

3. A restarted attempt (``begin_attempt``, and the first attempt) answers from the start, so it is
   compared with delivered from the start, position by position. A *cursor* marks how far it has
   agreed. While it agrees, its content is swallowed (kept aside as *matched*). Text is compared
   character by character, whatever the event boundaries: an event that runs past the end of
   delivered is sent cut down to its new part. Tool calls and ``Finish`` events agree only whole.
   So nothing is repeated: each part of the answer reaches the consumer once, however many
   attempts say it.

4. If a restarted attempt disagrees with delivered (other text, another kind of content, another
   call, another finish reason) or completes before reaching the end of delivered, what was shown
   is wrong. The ledger sends ``Rewind(attempt)``, then the attempt's content from its start: the
   matched events, then the event that disagreed. Delivered is now the new answer, and the cursor
   is at its end, so an attempt rewinds at most once, and a continuation never does. So nothing is
   lost either: a consumer that applies ``Rewind`` holds exactly the new answer.

5. A continuation (``begin_continuation(partial, carried)``) was asked to continue ``partial``, the
   delivered text (``partial_text()``), so its content follows delivered: its cursor starts at the
   end and it is sent as it comes. That is only possible when delivered is nothing but choice 0's
   answer text: ``partial_text()`` is None otherwise, and the owner restarts instead. When the
   continuation request carried only a prefix ``carried`` of the partial text (an Anthropic
   prefill must not end in whitespace), the model may say the rest again: as long as the
   continuation's first choice-0 text repeats that left-out tail, character by character and
   across events, it is skipped. Any other text or content ends the skipping.

6. Tool-call fragments (``ToolCallDelta``) are held back per call (choice and index) until the call
   is complete: at its ``ToolCallEnd``, at its choice's ``Finish`` (sent before the finish), or
   when the attempt completes (``end_attempt``: a call still open then is as complete as it will
   ever be). A failed attempt's held fragments are dropped when the next attempt begins. A call is
   then compared and delivered whole (rules 3 and 4), so a failure never leaves half a call
   downstream, where no consumer could finish it: the next attempt gives the call again, whole,
   under another id.

7. The answer is *complete* when every choice started has delivered its ``Finish`` since the last
   ``Rewind``. A failure after that loses at most a trailing ``Usage``, so the owner ends the
   stream normally instead of trying again.

8. Everything else (``Usage``, and ``Retrying`` or ``Rewind`` from a retry layer upstream) passes
   at once, unrecorded.

Cost: without a retry, a step costs as much as its event's text (appending a piece, a bounded
copy); during a restart, comparing an event looks only at the slice of delivered it covers.
``partial_text()`` joins the delivered text, once per retry.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final, TypeAlias

from streamkit.events import (
    Finish,
    ReasoningDelta,
    RefusalDelta,
    Rewind,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
)

__all__ = ["RetryLedger"]

#: A text piece shorter than this takes the next one into itself: the copy is bounded, and
#: token-sized deltas do not make one list entry each.
_MERGE_BELOW: Final = 256

_TextEvent: TypeAlias = TextDelta | ReasoningDelta | RefusalDelta
_TextKey: TypeAlias = tuple[str, int]  # (kind of text, choice)


@dataclass(slots=True, eq=False)
class _Text:
    """A run of delivered text of one kind for one choice, as the pieces it was sent in.

    Append-only: only the last piece ever changes, and only while the ledger's cursor is past the
    end of delivered, so no cursor ever points into a piece that changes under it.
    """

    key: _TextKey
    pieces: list[str]

    def append(self, text: str) -> None:
        last = self.pieces[-1]
        if len(last) < _MERGE_BELOW:
            self.pieces[-1] = last + text
        else:
            self.pieces.append(text)

    def join(self) -> str:
        return "".join(self.pieces)


@dataclass(frozen=True, slots=True)
class _Tool:
    """A complete tool call; ids differ between attempts, so name and arguments identify it."""

    choice: int
    name: str
    arguments: str


_Segment: TypeAlias = _Text | _Tool | Finish


def _text_key(event: _TextEvent) -> _TextKey:
    kind = event.kind if isinstance(event, ReasoningDelta) else type(event).__name__
    return kind, event.choice


class RetryLedger:
    """What of each attempt at a streamed answer goes downstream; see the module docstring.

    One ledger serves one subscription, across all its attempts. The first attempt needs no
    ``begin_*`` call.

    Example:
        >>> from streamkit.events import TextDelta
        >>> ledger = RetryLedger()
        >>> ledger.step(TextDelta("Hello wo"), attempt=1)
        [TextDelta(text='Hello wo', choice=0)]
        >>> ledger.begin_attempt()  # attempt 1 failed; attempt 2 answers from the start
        >>> ledger.step(TextDelta("Hello"), attempt=2)
        []
        >>> ledger.step(TextDelta(" world"), attempt=2)
        [TextDelta(text='rld', choice=0)]
    """

    __slots__ = (
        "_choices",
        "_delivered",
        "_finished",
        "_held",
        "_matched",
        "_offset",
        "_piece",
        "_repeated_space",
        "_segment",
    )

    def __init__(self) -> None:
        self._delivered: list[_Segment] = []
        # The cursor: how far the current attempt agrees with delivered, as a segment index and,
        # inside a text segment, a piece index and an offset into that piece. A segment index of
        # len(self._delivered) means past the end: what comes now is new.
        self._segment = 0
        self._piece = 0
        self._offset = 0
        self._matched: list[StreamEvent] = []  # the current attempt's events that agreed
        self._choices: set[int] = set()  # choices whose StreamStart was sent
        self._finished: set[int] = set()  # choices whose Finish is in delivered
        self._held: dict[tuple[int, int], list[StreamEvent]] = {}  # (choice, index) -> fragments
        # Continue mode: the end of the partial text the continuation request left out, which the
        # continuation may say again.
        self._repeated_space = ""

    @property
    def delivered_anything(self) -> bool:
        """Whether anything but pass-through events has gone downstream (``resume="none"``)."""
        return bool(self._choices) or bool(self._delivered)

    @property
    def complete(self) -> bool:
        """Every choice started has delivered its ``Finish`` since the last ``Rewind`` (rule 7)."""
        return bool(self._choices) and self._choices <= self._finished

    def partial_text(self) -> str | None:
        """The delivered text, if a continuation can carry it: choice 0 answer text only.

        Returns None when delivered holds anything else (reasoning, refusals, tool calls, another
        choice, a finish): a continuation request cannot say that, so the owner restarts.
        Returns ``""`` when nothing was delivered.
        """
        parts: list[str] = []
        for segment in self._delivered:
            if not isinstance(segment, _Text) or segment.key != ("TextDelta", 0):
                return None
            parts += segment.pieces
        return "".join(parts)

    def begin_attempt(self) -> None:
        """The next attempt answers from the start: compare it with everything delivered."""
        self._reset()
        self._move_to(0)

    def begin_continuation(self, partial: str, carried: str) -> None:
        """The next attempt continues ``partial``, of which its request carries ``carried``.

        Its content follows what was delivered; if ``carried`` is a proper prefix of ``partial``,
        the continuation's text that repeats the rest is skipped (rule 5).

        Args:
            partial: the ``partial_text()`` the continuation was asked to continue.
            carried: the prefix of ``partial`` the continuation request carries.
        """
        self._reset()
        self._move_to(len(self._delivered))
        self._repeated_space = partial[len(carried) :] if partial.startswith(carried) else ""

    def step(self, event: StreamEvent, attempt: int) -> list[StreamEvent]:
        """Take one event of the current attempt; return what to send downstream, in order.

        Args:
            event: the attempt's next event.
            attempt: the attempt's number, which a ``Rewind`` carries.
        """
        if isinstance(event, StreamStart):
            if event.choice in self._choices:  # started by an earlier attempt (rule 2)
                return []
            self._choices.add(event.choice)
            return [event]
        if isinstance(event, ToolCallDelta):
            self._held.setdefault((event.choice, event.index), []).append(event)
            return []
        if isinstance(event, ToolCallEnd):
            group = [*self._held.pop((event.choice, event.index), []), event]
            return self._release(group, attempt)
        if isinstance(event, Finish):
            out = self._release_choice(event.choice, attempt)
            return out + self._content([event], event, attempt)
        if isinstance(event, TextDelta | ReasoningDelta | RefusalDelta):
            return self._text(event, attempt)
        return [event]  # rule 8: nothing to compare

    def end_attempt(self, attempt: int) -> list[StreamEvent]:
        """The current attempt completed; return what to send before the stream completes.

        A restarted attempt that ended short of what was delivered diverged (rule 4); calls still
        open are released (rule 6).
        """
        out: list[StreamEvent] = self._rewind(attempt) if self._replaying else []
        for key in sorted(self._held):
            out += self._release(self._held.pop(key), attempt)
        return out

    # --- the cursor ----------------------------------------------------------------------------

    @property
    def _replaying(self) -> bool:
        """Whether the current attempt is still going over what was delivered."""
        return self._segment < len(self._delivered)

    def _move_to(self, segment: int) -> None:
        self._segment, self._piece, self._offset = segment, 0, 0

    def _reset(self) -> None:
        self._held.clear()
        self._matched = []
        self._repeated_space = ""

    def _agreeing_prefix(self, key: _TextKey, text: str) -> int | None:
        """Move the cursor over the start of ``text`` that repeats delivered text.

        Returns how many characters of ``text`` repeat it (all of them, or fewer when delivered
        ends first), or None when the text disagrees with it. Only the pieces ``text`` covers are
        looked at.
        """
        done = 0
        while done < len(text) and self._replaying:
            head = self._delivered[self._segment]
            if not isinstance(head, _Text) or head.key != key:
                return None
            piece = head.pieces[self._piece]
            n = min(len(piece) - self._offset, len(text) - done)
            if not piece.startswith(text[done : done + n], self._offset):
                return None
            done += n
            self._offset += n
            if self._offset == len(piece):
                self._piece, self._offset = self._piece + 1, 0
                if self._piece == len(head.pieces):
                    self._move_to(self._segment + 1)
        return done

    # --- content -------------------------------------------------------------------------------

    def _text(self, event: _TextEvent, attempt: int) -> list[StreamEvent]:
        key, text = _text_key(event), self._skip_repeated_space(event)
        agreed = self._agreeing_prefix(key, text)
        if agreed is None:
            return self._diverge([event], _Text(key, [event.text]), attempt)
        if agreed == len(text):
            self._matched.append(event)
            return []
        new = text[agreed:]
        self._deliver(_Text(key, [new]))
        return [event if len(new) == len(event.text) else replace(event, text=new)]

    def _skip_repeated_space(self, event: _TextEvent) -> str:
        """The event's text without the part that repeats what the continuation left out."""
        text, space = event.text, self._repeated_space
        if not space:
            return text
        if not isinstance(event, TextDelta) or event.choice != 0:
            self._repeated_space = ""
            return text
        n = _common_prefix_length(text, space)
        # All of the text repeats: the rest of the left-out part may follow in the next event.
        self._repeated_space = space[n:] if n == len(text) else ""
        return text[n:]

    def _release_choice(self, choice: int, attempt: int) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for key in sorted(k for k in self._held if k[0] == choice):
            out += self._release(self._held.pop(key), attempt)
        return out

    def _release(self, group: list[StreamEvent], attempt: int) -> list[StreamEvent]:
        """A complete call's fragments (and its end, if any), compared and sent whole."""
        deltas = [e for e in group if isinstance(e, ToolCallDelta)]
        if not deltas:
            return group
        name = next((d.name for d in deltas if d.name), "")
        tool = _Tool(deltas[0].choice, name, "".join(d.arguments for d in deltas))
        return self._content(group, tool, attempt)

    def _content(
        self, group: list[StreamEvent], segment: _Tool | Finish, attempt: int
    ) -> list[StreamEvent]:
        """A whole tool call or a ``Finish``: skipped if it repeats what was delivered."""
        self._repeated_space = ""
        if self._replaying:
            head = self._delivered[self._segment]
            if self._piece or self._offset or head != segment:
                return self._diverge(group, segment, attempt)
            self._move_to(self._segment + 1)
            self._matched += group
            return []
        self._deliver(segment)
        return group

    def _deliver(self, segment: _Segment) -> None:
        """Record content sent downstream after everything delivered before it (rule 1)."""
        last = self._delivered[-1] if self._delivered else None
        if isinstance(segment, _Text) and isinstance(last, _Text) and last.key == segment.key:
            for piece in segment.pieces:
                last.append(piece)
        else:
            self._delivered.append(segment)
            if isinstance(segment, Finish):
                self._finished.add(segment.choice)
        self._move_to(len(self._delivered))

    def _diverge(
        self, events: list[StreamEvent], segment: _Segment, attempt: int
    ) -> list[StreamEvent]:
        """The attempt differs from what was shown: void that, then send the new answer (rule 4)."""
        out = self._rewind(attempt)
        self._deliver(segment)
        return out + events

    def _rewind(self, attempt: int) -> list[StreamEvent]:
        self._delivered = []
        self._finished = set()
        self._move_to(0)
        replayed, self._matched = self._matched, []
        out: list[StreamEvent] = [Rewind(attempt)]
        for earlier in replayed:
            out += self.step(earlier, attempt)
        return out


def _common_prefix_length(a: str, b: str) -> int:
    n = min(len(a), len(b))
    return next((i for i in range(n) if a[i] != b[i]), n)
