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
    n = ri[r, HISTORY_LEN]
    if n < HISTORY_MAX:
        hist[r, n] = letter
        ri[r, HISTORY_LEN] = n + 1


@inline_jit
def _letter(code, d):
    # upper case for the originator (d == 0), lower case for the responder
    return code + 32 * d


@inline_jit
def check_letter(ri, hist, r, d, bit, code):
    """Record ``code`` once per side; True when it had been recorded before."""
    mask = bit << (16 * d)
    if ri[r, HIST_SEEN] & mask:
        return True
    ri[r, HIST_SEEN] |= mask
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
            if check_letter(ri, hist, r, d, bit, code) and seq != ri[r, ORIG_LAST_SYN + d]:
                add_letter(ri, hist, r, _letter(code, d))
            ri[r, ORIG_LAST_SYN + d] = seq
        if flags & FIN:
            fin_seq = (seq + payload) & 0xFFFFFFFF
            if check_letter(ri, hist, r, d, H_FIN, 70) and fin_seq != ri[r, ORIG_LAST_FIN + d]:
                add_letter(ri, hist, r, _letter(70, d))
            ri[r, ORIG_LAST_FIN + d] = fin_seq
        if flags & RST:
            if check_letter(ri, hist, r, d, H_RST, 82) and seq != ri[r, ORIG_LAST_RST + d]:
                add_letter(ri, hist, r, _letter(82, d))
            ri[r, ORIG_LAST_RST + d] = seq
    elif payload > 0:
        check_letter(ri, hist, r, d, H_DATA, 68)  # D
    elif flags & ACK:
        check_letter(ri, hist, r, d, H_ACK, 65)  # A


@inline_jit
def _update_states(ri, r, d, flags, payload, ts):
    """Zeek's endpoint state machine, for the sender ``d`` and its peer."""
    me = ORIG_STATE + d
    peer = ORIG_STATE + (1 - d)
    state = ri[r, me]
    if flags & RST:
        ri[r, me] = EP_RESET
        return
    if flags & SYN:
        if flags & ACK:
            if state == EP_INACTIVE or state == EP_SYN_SENT:
                ri[r, me] = EP_SYN_ACK_SENT
        elif state == EP_INACTIVE:
            ri[r, me] = EP_SYN_SENT
    elif state == EP_INACTIVE and (flags & ACK or payload > 0 or flags & FIN):
        ri[r, me] = EP_PARTIAL
    elif (state == EP_SYN_SENT or state == EP_SYN_ACK_SENT) and flags & ACK:
        peer_state = ri[r, peer]
        if peer_state == EP_SYN_ACK_SENT or peer_state == EP_SYN_SENT or peer_state == EP_ESTABLISHED:
            ri[r, me] = EP_ESTABLISHED
            ri[r, peer] = EP_ESTABLISHED
            if d == 0 and ri[r, SYN_TS] >= 0 and ri[r, HANDSHAKE_RTT] < 0:
                ri[r, HANDSHAKE_RTT] = ts - ri[r, SYN_TS]
    if flags & FIN:
        ri[r, me] = EP_CLOSED


@inline_jit
def _analyse_sequence(ri, hist, r, d, flags, seq, payload):
    """Retransmissions, gaps and gap-filling (out-of-order) segments of one side."""
    span = payload + (1 if flags & SYN else 0) + (1 if flags & FIN else 0)
    if span == 0:
        return
    end = (seq + span) & 0xFFFFFFFF
    next_seq = ri[r, ORIG_NEXT_SEQ + d]
    if next_seq < 0 or flags & SYN:
        ri[r, ORIG_NEXT_SEQ + d] = end
        return
    if seq_before(next_seq, seq):
        # a gap: data between next_seq and seq has not been seen (yet)
        ri[r, ORIG_HOLE_LO + d] = next_seq
        ri[r, ORIG_HOLE_HI + d] = seq
        ri[r, ORIG_GAPS + d] += 1
        _scaled(ri, hist, r, d, ri[r, ORIG_GAPS + d], 71)  # G
        ri[r, ORIG_NEXT_SEQ + d] = end
    elif seq_before(seq, next_seq) and payload > 0:
        lo = ri[r, ORIG_HOLE_LO + d]
        hi = ri[r, ORIG_HOLE_HI + d]
        if lo != hi and not seq_before(seq, lo) and not seq_before(hi, end):
            ri[r, ORIG_OOO + d] += 1
            # the segment fills the hole from one end: keep what is still missing
            if seq == lo:
                ri[r, ORIG_HOLE_LO + d] = end
            elif end == hi:
                ri[r, ORIG_HOLE_HI + d] = seq
        else:
            ri[r, ORIG_RETRANS + d] += 1
            _scaled(ri, hist, r, d, ri[r, ORIG_RETRANS + d], 84)  # T
        if seq_before(next_seq, end):
            ri[r, ORIG_NEXT_SEQ + d] = end
    else:
        ri[r, ORIG_NEXT_SEQ + d] = end


@inline_jit
def tcp_update(ri, hist, r, d, flags, seq, payload, window, ts):
    """Update a flow's TCP state with one segment from side ``d`` (0: originator)."""
    if d == 0 and flags & SYN and not flags & ACK and ri[r, SYN_TS] < 0:
        ri[r, SYN_TS] = ts
    _update_history(ri, hist, r, d, flags, seq, payload)
    _analyse_sequence(ri, hist, r, d, flags, seq, payload)
    if window == 0 and not flags & (RST | SYN):
        ri[r, ORIG_ZERO_WIN + d] += 1
        _scaled(ri, hist, r, d, ri[r, ORIG_ZERO_WIN + d], 87)  # W
    _update_states(ri, r, d, flags, payload, ts)


@inline_jit
def in_handshake(ri, r):
    """A SYN or SYN-ACK was sent and the connection is not established yet."""
    o = ri[r, ORIG_STATE]
    p = ri[r, ORIG_STATE + 1]
    opening = o == EP_SYN_SENT or o == EP_SYN_ACK_SENT or p == EP_SYN_SENT or p == EP_SYN_ACK_SENT
    return opening and o != EP_ESTABLISHED and p != EP_ESTABLISHED


@inline_jit
def closed(ri, r):
    """FIN from both sides, or a RST from either."""
    o = ri[r, ORIG_STATE]
    p = ri[r, ORIG_STATE + 1]
    return (o == EP_CLOSED and p == EP_CLOSED) or o == EP_RESET or p == EP_RESET


@inline_jit
def was_reset(ri, r):
    return ri[r, ORIG_STATE] == EP_RESET or ri[r, ORIG_STATE + 1] == EP_RESET

