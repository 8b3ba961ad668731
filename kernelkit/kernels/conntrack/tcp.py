"""TCP per-flow state: Zeek's endpoint states and history, sequence analysis.

The history follows Zeek's conn.log: one letter per event, upper case from the
originator, lower case from the responder. S (SYN), H (SYN-ACK), A (pure ACK),
D (data), F (FIN), R (RST), Q (SYN with FIN or RST), I (FIN with RST) are
recorded once per side, and again for a SYN, FIN or RST at a new sequence
number; T (retransmission), G (gap), W (zero window) at the 1st, 10th, 100th, ...
occurrence; ^ when the first packet was a SYN-ACK and the sides were swapped.
"""

from ..._jit import inline_jit
from .layout import (
    EP_CLOSED,
    EP_ESTABLISHED,
    EP_INACTIVE,
    EP_PARTIAL,
    EP_RESET,
    EP_SYN_ACK_SENT,
    EP_SYN_SENT,
    HANDSHAKE_RTT,
    HIST_SEEN,
    HISTORY_LEN,
    HISTORY_MAX,
    ORIG_GAPS,
    ORIG_HOLE_HI,
    ORIG_HOLE_LO,
    ORIG_LAST_FIN,
    ORIG_LAST_RST,
    ORIG_LAST_SYN,
    ORIG_NEXT_SEQ,
    ORIG_OOO,
    ORIG_RETRANS,
    ORIG_STATE,
    ORIG_ZERO_WIN,
    SYN_TS,
)

FIN = 0x01
SYN = 0x02
RST = 0x04
ACK = 0x10

# Bit of each letter in HIST_SEEN (the responder's are these << 16).
H_SYN = 1 << 0
H_SYN_ACK = 1 << 1
H_ACK = 1 << 2
H_DATA = 1 << 3
H_FIN = 1 << 4
H_RST = 1 << 5
H_MULTI = 1 << 6
H_FIN_RST = 1 << 7


@inline_jit
def seq_before(a, b):
    """a < b in sequence space (RFC 1982 serial arithmetic, 32 bits)."""
    d = (a - b) & 0xFFFFFFFF
    return d >= 0x80000000


@inline_jit
def add_letter(ri, hist, r, letter):
    n = ri[HISTORY_LEN, r]
    if n < HISTORY_MAX:
        hist[r, n] = letter
        ri[HISTORY_LEN, r] = n + 1


@inline_jit
def _letter(code, d):
    # upper case for the originator (d == 0), lower case for the responder
    return code + 32 * d


@inline_jit
def check_letter(ri, hist, r, d, bit, code):
    """Record ``code`` once per side; True when it had been recorded before."""
    mask = bit << (16 * d)
    if ri[HIST_SEEN, r] & mask:
        return True
    ri[HIST_SEEN, r] |= mask
    add_letter(ri, hist, r, _letter(code, d))
    return False


@inline_jit
def _scaled(ri, hist, r, d, count, code):
    """Record ``code`` when an event's count reaches 1, 10, 100, ..."""
    c = count
    while c % 10 == 0 and c >= 10:
        c //= 10
    if c == 1:
        add_letter(ri, hist, r, _letter(code, d))


@inline_jit
def _update_history(ri, hist, r, d, flags, seq, payload):
    bits = (1 if flags & SYN else 0) + (1 if flags & FIN else 0) + (1 if flags & RST else 0)
    if bits > 1:
        if flags & FIN and flags & RST:
            check_letter(ri, hist, r, d, H_FIN_RST, 73)  # I
        else:
            check_letter(ri, hist, r, d, H_MULTI, 81)  # Q
    elif bits == 1:
        if flags & SYN:
            code = 72 if flags & ACK else 83  # H or S
            bit = H_SYN_ACK if flags & ACK else H_SYN
            if check_letter(ri, hist, r, d, bit, code) and seq != ri[ORIG_LAST_SYN + d, r]:
                add_letter(ri, hist, r, _letter(code, d))
            ri[ORIG_LAST_SYN + d, r] = seq
        if flags & FIN:
            fin_seq = (seq + payload) & 0xFFFFFFFF
            if check_letter(ri, hist, r, d, H_FIN, 70) and fin_seq != ri[ORIG_LAST_FIN + d, r]:
                add_letter(ri, hist, r, _letter(70, d))
            ri[ORIG_LAST_FIN + d, r] = fin_seq
        if flags & RST:
            if check_letter(ri, hist, r, d, H_RST, 82) and seq != ri[ORIG_LAST_RST + d, r]:
                add_letter(ri, hist, r, _letter(82, d))
            ri[ORIG_LAST_RST + d, r] = seq
    elif payload > 0:
        check_letter(ri, hist, r, d, H_DATA, 68)  # D
    elif flags & ACK:
        check_letter(ri, hist, r, d, H_ACK, 65)  # A


@inline_jit
def _update_states(ri, r, d, flags, payload, ts):
    """Zeek's endpoint state machine, for the sender ``d`` and its peer."""
    me = ORIG_STATE + d
    peer = ORIG_STATE + (1 - d)
    state = ri[me, r]
    if flags & RST:
        ri[me, r] = EP_RESET
        return
    if flags & SYN:
        if flags & ACK:
            if state == EP_INACTIVE or state == EP_SYN_SENT:
                ri[me, r] = EP_SYN_ACK_SENT
        elif state == EP_INACTIVE:
            ri[me, r] = EP_SYN_SENT
    elif state == EP_INACTIVE and (flags & ACK or payload > 0 or flags & FIN):
        ri[me, r] = EP_PARTIAL
    elif (state == EP_SYN_SENT or state == EP_SYN_ACK_SENT) and flags & ACK:
        peer_state = ri[peer, r]
        if peer_state == EP_SYN_ACK_SENT or peer_state == EP_SYN_SENT or peer_state == EP_ESTABLISHED:
            ri[me, r] = EP_ESTABLISHED
            ri[peer, r] = EP_ESTABLISHED
            if d == 0 and ri[SYN_TS, r] >= 0 and ri[HANDSHAKE_RTT, r] < 0:
                ri[HANDSHAKE_RTT, r] = ts - ri[SYN_TS, r]
    if flags & FIN:
        ri[me, r] = EP_CLOSED


@inline_jit
def _analyse_sequence(ri, hist, r, d, flags, seq, payload):
    """Retransmissions, gaps and gap-filling (out-of-order) segments of one side."""
    span = payload + (1 if flags & SYN else 0) + (1 if flags & FIN else 0)
    if span == 0:
        return
    end = (seq + span) & 0xFFFFFFFF
    next_seq = ri[ORIG_NEXT_SEQ + d, r]
    if next_seq < 0 or flags & SYN:
        ri[ORIG_NEXT_SEQ + d, r] = end
        return
    if seq_before(next_seq, seq):
        # a gap: data between next_seq and seq has not been seen (yet)
        ri[ORIG_HOLE_LO + d, r] = next_seq
        ri[ORIG_HOLE_HI + d, r] = seq
        ri[ORIG_GAPS + d, r] += 1
        _scaled(ri, hist, r, d, ri[ORIG_GAPS + d, r], 71)  # G
        ri[ORIG_NEXT_SEQ + d, r] = end
    elif seq_before(seq, next_seq) and payload > 0:
        lo = ri[ORIG_HOLE_LO + d, r]
        hi = ri[ORIG_HOLE_HI + d, r]
        if lo != hi and not seq_before(seq, lo) and not seq_before(hi, end):
            ri[ORIG_OOO + d, r] += 1
            # the segment fills the hole from one end: keep what is still missing
            if seq == lo:
                ri[ORIG_HOLE_LO + d, r] = end
            elif end == hi:
                ri[ORIG_HOLE_HI + d, r] = seq
        else:
            ri[ORIG_RETRANS + d, r] += 1
            _scaled(ri, hist, r, d, ri[ORIG_RETRANS + d, r], 84)  # T
        if seq_before(next_seq, end):
            ri[ORIG_NEXT_SEQ + d, r] = end
    else:
        ri[ORIG_NEXT_SEQ + d, r] = end


@inline_jit
def tcp_update(ri, hist, r, d, flags, seq, payload, window, ts):
    """Update a flow's TCP state with one segment from side ``d`` (0: originator)."""
    if d == 0 and flags & SYN and not flags & ACK and ri[SYN_TS, r] < 0:
        ri[SYN_TS, r] = ts
    _update_history(ri, hist, r, d, flags, seq, payload)
    _analyse_sequence(ri, hist, r, d, flags, seq, payload)
    if window == 0 and not flags & (RST | SYN):
        ri[ORIG_ZERO_WIN + d, r] += 1
        _scaled(ri, hist, r, d, ri[ORIG_ZERO_WIN + d, r], 87)  # W
    _update_states(ri, r, d, flags, payload, ts)


@inline_jit
def in_handshake(ri, r):
    """A SYN or SYN-ACK was sent and the connection is not established yet."""
    o = ri[ORIG_STATE, r]
    p = ri[ORIG_STATE + 1, r]
    opening = o == EP_SYN_SENT or o == EP_SYN_ACK_SENT or p == EP_SYN_SENT or p == EP_SYN_ACK_SENT
    return opening and o != EP_ESTABLISHED and p != EP_ESTABLISHED


@inline_jit
def closed(ri, r):
    """FIN from both sides, or a RST from either."""
    o = ri[ORIG_STATE, r]
    p = ri[ORIG_STATE + 1, r]
    return (o == EP_CLOSED and p == EP_CLOSED) or o == EP_RESET or p == EP_RESET


@inline_jit
def was_reset(ri, r):
    return ri[ORIG_STATE, r] == EP_RESET or ri[ORIG_STATE + 1, r] == EP_RESET

