#!/usr/bin/env python3
"""Writes the seed corpus of the binary harnesses (fuzz/corpus/{snapshot,migrate_state,
migrate_recv,virtqueue,vhost_user}/ and a bare flow-log header) with the layouts of src/proto/snapshot.h,
src/vmm/state/migrate_state.c, the virtio split ring and src/proto/vhost_user.h. Whole flow
logs come from fuzz/tools/flowlog_seed.c (the product's writer); text seeds are plain files.
`make fuzz-seeds` runs both from the repository root."""
import os
import struct
import zlib

PAGE = 4096


def put(name, seed, data):
    d = os.path.join("fuzz", "corpus", name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, seed), "wb") as f:
        f.write(data)


def section(stype, payload, memory=False, base=0):
    """A snapshot section header + payload, `next` as the writer puts it."""
    pay = base + 24
    nxt = pay + ((len(payload) + 7) & ~7)
    if memory:
        nxt = (pay + len(payload) + PAGE - 1) & ~(PAGE - 1)
    hdr = struct.pack("<IIQQ", stype, zlib.crc32(payload), len(payload), nxt)
    return hdr + payload + b"\0" * (nxt - pay - len(payload)), nxt


def snapshot(ram_pages, saved):
    ram = ram_pages * PAGE
    head = b"XENOSNAP" + struct.pack("<II", 1, 0)  # header_size patched below
    hdr_fields = struct.pack("<12sIIIQ", b"GenuineIntel", 0x806F8, PAGE, 1, ram)
    ranges = struct.pack("<QQQ", 0, ram, 0) + struct.pack("<QQQ", 0, 0, 0)
    body = head + hdr_fields + ranges + struct.pack("<I", 0)
    size = len(body) + 4
    body = body[:12] + struct.pack("<I", size) + body[16:]
    header = body + struct.pack("<I", zlib.crc32(body))
    out, off = header, size
    cfg = struct.pack("<QIIIIIII", ram, 1, 0, 1, 2, 0, 0, 0) + b"/k.elf".ljust(1024, b"\0") + b"console=ttyS0".ljust(4096, b"\0")
    cfg += b"\0" * 4  # struct snap_config is 8-aligned
    s, off = section(1, cfg, base=off)
    out += s
    extra = [(2, struct.pack("<I", 0) + b"\0" * 60)]  # vcpu 0 (the reader checks the id)
    if saved:
        xml = open("fuzz/corpus/domain_xml/hello.xml", "rb").read()
        extra += [(11, xml), (12, struct.pack("<QQ", ram // 2, 1000))]  # domain-xml, mem-target
    for stype, payload in extra:
        s, off = section(stype, payload, base=off)
        out += s
    # memory: runs of `saved` pages each holding its index
    pages = [bytes([i + 1]) * PAGE for i in range(saved)]
    table_len = 8 + 32 * (1 if saved else 0)
    pay = off + 24
    data_at = (pay + table_len + PAGE - 1) & ~(PAGE - 1)
    table = struct.pack("<Q", 1 if saved else 0)
    if saved:
        blob = b"".join(pages)
        table += struct.pack("<QQQII", 0, saved, data_at, zlib.crc32(blob), 0)
    s, _ = section(10, table, memory=True, base=off)
    # next of the memory section is the end of the page data
    nxt = data_at + saved * PAGE
    s = s[:16] + struct.pack("<Q", nxt) + s[24:]
    out += s + b"".join(pages)
    end = struct.pack("<IIQQ", 0, zlib.crc32(b""), 0, nxt + 24)
    return out + end


def mig_section(stype, payload):
    nxt = 24 + ((len(payload) + 7) & ~7)
    return struct.pack("<IIQQ", stype, zlib.crc32(payload), len(payload), nxt) + payload + b"\0" * (nxt - 24 - len(payload))


def virtq(size, chains, indirect=False):
    """8 setup bytes, then RAM: desc at 0x1000, avail at 0x2000, used at 0x3000, data at 0x4000."""
    setup = bytes([size.bit_length() - 1, 0, 0x10, 0x20, 0x30, 1 if indirect else 0, 0, 0])
    ram = bytearray(0x5000)
    d = 0
    ring = []
    for c in chains:  # c: list of (len, write)
        ring.append(d)
        for j, (ln, wr) in enumerate(c):
            flags = (1 if j + 1 < len(c) else 0) | (2 if wr else 0)
            struct.pack_into("<QIHH", ram, 0x1000 + 16 * d, 0x4000 + 64 * d, ln, flags, d + 1)
            d += 1
    struct.pack_into("<HH", ram, 0x2000, 0, len(ring))
    for i, h in enumerate(ring):
        struct.pack_into("<H", ram, 0x2004 + 2 * i, h)
    return setup + bytes(ram)


def blk_ring(num, chains, features=0x1d, sectors=(8, 8)):
    """fuzz/blk_ring.c's input: 8 bytes of settings (queue size 1 << b0, features b1, base,
    disk of b4 << b5 sectors), then guest memory: avail ring at 0, used ring at 0x400,
    descriptors at 0x1000, buffers from 0x2000. A chain is a list of (bytes or length,
    writable): bytes are the buffer's contents."""
    mem = bytearray(0x2000)
    nxt, d, heads = 0x2000, 0, []
    for chain in chains:
        heads.append(d)
        for i, (buf, writable) in enumerate(chain):
            data = buf if isinstance(buf, bytes) else b"\0" * buf
            flags = (1 if i + 1 < len(chain) else 0) | (2 if writable else 0)
            struct.pack_into("<QIHH", mem, 0x1000 + 16 * d, 0x100000 + nxt, len(data), flags, d + 1)
            mem += data
            nxt += len(data)
            d += 1
    struct.pack_into("<HH", mem, 0, 0, len(heads))
    for i, h in enumerate(heads):
        struct.pack_into("<H", mem, 4 + 2 * i, h)
    settings = bytes([num.bit_length() - 1, features, 0, 0, sectors[0], sectors[1], 7, 0])
    return settings + bytes(mem)


def blk_hdr(rtype, sector):
    return struct.pack("<IIQ", rtype, 0, sector)


def vhost(end_byte, *msgs):
    return bytes([end_byte]) + b"".join(struct.pack("<III", r, f, len(p)) + p for r, f, p in msgs)


def mig_msg(mtype, payload):
    """fuzz/migrate_recv.c's framing: type byte (odd: MIG_CONFIG, even: MIG_PAGES), length, payload."""
    return struct.pack("<BI", mtype, len(payload)) + payload


def mig_pages(entries, datas):
    """A MIG_PAGES payload: header, entries (RAM offset | 1 for a zero page), page data."""
    return struct.pack("<II", len(entries), 0) + b"".join(struct.pack("<Q", e) for e in entries) + b"".join(datas)


def main():
    put("snapshot", "empty-ram", snapshot(16, 0))
    put("snapshot", "two-pages", snapshot(16, 2))
    # uart state: whatever uart_state_ops.size is; the harness recomputes CRCs anyway
    put("migrate_state", "empty", b"")
    put("migrate_state", "power", mig_section(8, b"\1" + b"\0" * 7))
    uart = bytes([1, 3, 0, 0x5A, 1, 0, 0xC7, 0]) + b"ab" + b"\0" * 14 + struct.pack("<IIiiiI", 0, 2, 1, 1, 0, 0)
    i8042 = struct.pack("<BBBBi", 0x47, 0xFA, 1, 0, 1)
    power = b"\1" + b"\0" * 7
    put("migrate_state", "all-devices", mig_section(6, uart) + mig_section(6, uart) + mig_section(7, i8042) + mig_section(8, power))
    put("virtqueue", "two-chains", virtq(8, [[(16, False), (64, True)], [(32, False)]]))
    put("virtqueue", "one-write", virtq(4, [[(100, True)]]))
    # GET_FEATURES request, SET_FEATURES, SET_VRING_NUM; a GET_FEATURES reply
    # xeno-blkback's queue: read, write, flush, get-id, discard, write-zeroes, one past the end
    put("blk_ring", "requests", blk_ring(16, [
        [(blk_hdr(0, 0), False), (4096, True), (1, True)],
        [(blk_hdr(1, 8), False), (b"\xab" * 4096, False), (1, True)],
        [(blk_hdr(4, 0), False), (1, True)],
        [(blk_hdr(8, 0), False), (20, True), (1, True)],
        [(blk_hdr(11, 0), False), (struct.pack("<QII", 0, 8, 0), False), (1, True)],
        [(blk_hdr(13, 0), False), (struct.pack("<QII", 16, 8, 0), False), (1, True)],
        [(blk_hdr(0, 2047), False), (1024, True), (1, True)],
    ]))
    put("blk_ring", "scattered", blk_ring(8, [
        [(blk_hdr(1, 4), False)] + [(b"\x11" * 512, False)] * 6 + [(1, True)],
        [(blk_hdr(0, 4), False)] + [(512, True)] * 6 + [(1, True)],
    ], features=0x1f, sectors=(1, 12)))
    # blk_disk_spec: even byte 0 fills a disk (file, target, serial, group, flags, weight,
    # reservation, which limits, the limits); odd byte 0 is a spec for the reader alone
    q64 = lambda v: struct.pack("<Q", v)
    put("blk_disk_spec", "writer-limits", b"\0acme/web.raw\0vda\0SN-1\0grp\0" + bytes([1 | 2 << 1 | 16 | 32])
        + q64(500) + q64(1000) + q64((1 << 0) | (1 << 3) | (1 << 9)) + q64(1 << 20) + q64(100) + q64(400))
    put("blk_disk_spec", "writer-plain", b"\0base.ovl\0vdb\0\0\0" + bytes([0]))
    put("blk_disk_spec", "reader", b"\1name=u0123456789-vda,socket=/run/x.sock,file=a/b.raw,readonly,queues=2,"
        b"serial=S1,total_iops_sec=100,total_iops_sec_max=200,group=u0123456789-g,sponsor=acme,"
        b"sponsor_total_iops_sec=1000,weight=300,reservation=50")
    # overlay: byte 0 = 0x80 (a header the encoder makes) | 2 (a base) | ops << 2; ops of 8
    # bytes (read/write/zero/flush, offset, length, pattern); then size, cluster size, table
    op = lambda kind, off, ln, pat=0: bytes([kind, off & 255, off >> 8 & 255, off >> 16 & 255, ln & 255, ln >> 8, pat, 0])
    ops = [op(1, 0, 4096, 1), op(0, 0, 8192), op(1, 6000, 9000, 2), op(3, 0, 0), op(2, 4096, 5000), op(0, 0, 20000),
           op(1, 70000, 3000, 3), op(3, 0, 0), op(0, 65536, 8192)]
    put("overlay", "base-writes", bytes([0x80 | 2 | len(ops) << 2]) + b"".join(ops) + bytes([255, 2, 0]))
    put("overlay", "no-base-writes", bytes([0x80 | len(ops) << 2]) + b"".join(ops) + bytes([63, 4, 4]))
    put("vhost_user", "requests", vhost(0, (1, 1, b""), (2, 1, struct.pack("<Q", 1 << 32)), (8, 1, struct.pack("<II", 0, 256))))
    put("vhost_user", "kick-with-fd", vhost(2, (12, 1, struct.pack("<Q", 0))))
    put("vhost_user", "reply", vhost(1, (1, 5, struct.pack("<Q", 1 << 32))))
    hdr = b"XFLOWLOG" + bytes([1, 0, 0, 0, 64, 0, 0, 0]) + bytes(range(16)) + struct.pack("<Q", 1) + b"\0" * 24
    put("flowlog", "header-only", hdr)
    # migrate_recv: RAM of 1 + byte0 % 64 pages; a config (4 MiB, 1 vCPU), then pages
    cfg = struct.pack("<QIIIIIII", 4 << 20, 1, 0, 1, 2, 0, 0, 0) + b"/k.elf".ljust(1024, b"\0") + b"console=ttyS0".ljust(4096, b"\0") + b"\0" * 4
    put("migrate_recv", "config", bytes([7]) + mig_msg(1, cfg))
    put("migrate_recv", "pages", bytes([7]) + mig_msg(0, mig_pages([0, 2 * PAGE | 1, 7 * PAGE], [b"\1" * PAGE, b"\2" * PAGE])))
    put("migrate_recv", "config-then-rounds", bytes([3]) + mig_msg(1, cfg) + mig_msg(0, mig_pages([PAGE | 1], []))
        + mig_msg(0, mig_pages([3 * PAGE, 3 * PAGE | 1], [b"\3" * PAGE])))
    # a full batch (64 entries) over 64 pages of RAM: 20 with data, the rest zero pages
    ents = [i * PAGE | (0 if i % 3 == 0 else 1) for i in range(64)][:64]
    ents = [e if i < 60 else e | 1 for i, e in enumerate(ents)]
    datas = [bytes([i]) * PAGE for i, e in enumerate(ents) if not e & 1]
    put("migrate_recv", "full-batch", bytes([63]) + mig_msg(0, mig_pages(ents, datas)))


if __name__ == "__main__":
    main()
