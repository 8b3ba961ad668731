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
# Not letters: facts Zeek keeps elsewhere.
H_SENT_SYN_ACK = 1 << 8  # the side has sent a SYN+ACK (for the handshake RTT)
H_RESET_AFTER_CLOSE = 1 << 9  # the side went from CLOSED to RESET (Zeek's prev_state == CLOSED)


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
            # one bit for S and H, as Zeek's HIST_SYN_PKT
            if check_letter(ri, hist, r, d, H_SYN, code) and seq != ri[r, ORIG_LAST_SYN + d]:
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
def _set_state(ri, r, side, state):
    """Zeek's TCP_Endpoint::SetState, remembering a CLOSED -> RESET move (its prev_state)."""
    old = ri[r, ORIG_STATE + side]
    if old == state:
        return
    mask = H_RESET_AFTER_CLOSE << (16 * side)
    if old == EP_CLOSED and state == EP_RESET:
        ri[r, HIST_SEEN] |= mask
    else:
        ri[r, HIST_SEEN] &= ~mask
    ri[r, ORIG_STATE + side] = state


@inline_jit
def _update_states(ri, r, d, flags, payload):
    """Zeek's endpoint state machine (TCPSessionAdapter::UpdateStateMachine), for the sender
    ``d`` and its peer: the states only, without events or weirds."""
    peer = 1 - d
    state = ri[r, ORIG_STATE + d]
    peer_state = ri[r, ORIG_STATE + peer]
    if state == EP_INACTIVE:
        if flags & SYN:
            if d == 0:
                _set_state(ri, r, d, EP_SYN_ACK_SENT if flags & ACK else EP_SYN_SENT)
            else:
                # the answer to a SYN: both sides are established
                if peer_state == EP_SYN_SENT:
                    _set_state(ri, r, peer, EP_ESTABLISHED)
                _set_state(ri, r, d, EP_ESTABLISHED)
        if flags & FIN:
            _set_state(ri, r, d, EP_CLOSED)
        if flags & RST:
            _set_state(ri, r, d, EP_RESET)
        if ri[r, ORIG_STATE + d] == EP_INACTIVE:
            if d == 1 and payload == 0 and ri[r, ORIG_STATE] == EP_SYN_SENT:
                pass  # an ACK of the SYN before the SYN+ACK: not yet a partial connection
            elif flags & ACK and ri[r, ORIG_STATE + peer] == EP_ESTABLISHED:
                _set_state(ri, r, d, EP_ESTABLISHED)  # the SYN was missed
            else:
                _set_state(ri, r, d, EP_PARTIAL)
    elif state == EP_SYN_SENT or state == EP_SYN_ACK_SENT:
        if flags & FIN:
            _set_state(ri, r, d, EP_CLOSED)
        if flags & RST:
            _set_state(ri, r, d, EP_RESET)
    elif state == EP_ESTABLISHED or state == EP_PARTIAL:
        if flags & SYN and state == EP_PARTIAL and peer_state == EP_INACTIVE and not flags & ACK:
            _set_state(ri, r, d, EP_SYN_SENT)
        if flags & FIN and not flags & RST:
            _set_state(ri, r, d, EP_CLOSED)
            if peer_state == EP_RESET and ri[r, HIST_SEEN] & (H_RESET_AFTER_CLOSE << (16 * peer)):
                _set_state(ri, r, peer, EP_CLOSED)  # the peer's FIN then RST: a normal close after all
        if flags & RST:
            _set_state(ri, r, d, EP_RESET)
    elif state == EP_CLOSED:
        if flags & RST and peer_state != EP_CLOSED:
            _set_state(ri, r, d, EP_RESET)


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
    elif seq_before(next_seq, end):
        ri[r, ORIG_NEXT_SEQ + d] = end  # never back: a FIN sent again at an older number


@inline_jit
def tcp_update(ri, hist, r, d, flags, seq, payload, window, ts):
    """Update a flow's TCP state with one segment from side ``d`` (0: originator)."""
    if d == 0 and flags & SYN and not flags & ACK and ri[r, SYN_TS] < 0:
        ri[r, SYN_TS] = ts
    # handshake RTT: from the originator's first SYN to its first ACK after the responder's SYN+ACK
    if (d == 0 and flags & ACK and not flags & (SYN | RST) and ri[r, SYN_TS] >= 0 and ri[r, HANDSHAKE_RTT] < 0
            and ri[r, HIST_SEEN] & (H_SENT_SYN_ACK << 16)):
        ri[r, HANDSHAKE_RTT] = ts - ri[r, SYN_TS]
    if flags & SYN and flags & ACK:
        ri[r, HIST_SEEN] |= H_SENT_SYN_ACK << (16 * d)
    _update_history(ri, hist, r, d, flags, seq, payload)
    _analyse_sequence(ri, hist, r, d, flags, seq, payload)
    # Zeek's update_window: not with a RST, nor after one's own RST or the peer's FIN
    if (window == 0 and not flags & RST and ri[r, ORIG_STATE + 1 - d] != EP_CLOSED
            and ri[r, ORIG_STATE + d] != EP_RESET):
        ri[r, ORIG_ZERO_WIN + d] += 1
        _scaled(ri, hist, r, d, ri[r, ORIG_ZERO_WIN + d], 87)  # W
    _update_states(ri, r, d, flags, payload)


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

