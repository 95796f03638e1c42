#include "ctl/commands.h"

#include <ctype.h>
#include <string.h>

#include "blk/image_dir.h"
#include "lib/log.h"

static const struct ctl_opt create_opts[] = {
    {"paused", 0, NULL, 0}, {"console", 0, NULL, 0}, {"linger", 1, "SEC", 0}, {NULL, 0, NULL, 0}};
static const struct ctl_opt drain_opts[] = {
    {"parallel", 1, "N", 0}, {"policy", 1, "binpack|spread", 0}, {NULL, 0, NULL, 0}};
static const struct ctl_opt fleet_create_opts[] = {{"paused", 0, NULL, 0},
                                                   {"console", 0, NULL, 0},
                                                   {"linger", 1, "SEC", 0},
                                                   {"policy", 1, "binpack|spread", 0},
                                                   {NULL, 0, NULL, 0}};
static const struct ctl_opt shutdown_opts[] = {{"wait", 0, NULL, 0}, {"timeout", 1, "SEC", 0}, {NULL, 0, NULL, 0}};
static const struct ctl_opt console_opts[] = {
    {"dump", 0, NULL, 0}, {"tail", 1, "BYTES", 0}, {"linger", 1, "SEC", 0}, {NULL, 0, NULL, 0}};
static const struct ctl_opt list_opts[] = {{"sponsor", 1, "NAME", 0},
                                           {"state", 1, "STATE", 0},
                                           {"limit", 1, "N", 0},
                                           {"after", 1, "NAME", 0},
                                           {NULL, 0, NULL, 0}};
static const struct ctl_opt events_opts[] = {{"limit", 1, "N", 0}, {"follow", 0, NULL, 0}, {NULL, 0, NULL, 0}};
static const struct ctl_opt mem_set_opts[] = {{"deadline", 1, "TIME", 0}, {NULL, 0, NULL, 0}};
static const struct ctl_opt save_opts[] = {
    {"keep-running", 0, NULL, 0}, {"shrink", 0, NULL, 0}, {"snapshot", 0, NULL, 0}, {NULL, 0, NULL, 0}};
static const struct ctl_opt net_qos_opts[] = {{"inbound", 1, "AVG[,PEAK[,BURST]]", 0},
                                              {"outbound", 1, "AVG[,PEAK[,BURST[,FLOOR]]]", 0},
                                              {"weight", 1, "N", 0},
                                              {NULL, 0, NULL, 0}};
/* virsh blkdeviotune's names (domain_iotune_names with dashes), then <blkiotune> and ours. */
static const struct ctl_opt disk_qos_opts[] = {{"total-bytes-sec", 1, "N", 0},
                                               {"read-bytes-sec", 1, "N", 0},
                                               {"write-bytes-sec", 1, "N", 0},
                                               {"total-iops-sec", 1, "N", 0},
                                               {"read-iops-sec", 1, "N", 0},
                                               {"write-iops-sec", 1, "N", 0},
                                               {"total-bytes-sec-max", 1, "N", 0},
                                               {"read-bytes-sec-max", 1, "N", 0},
                                               {"write-bytes-sec-max", 1, "N", 0},
                                               {"total-iops-sec-max", 1, "N", 0},
                                               {"read-iops-sec-max", 1, "N", 0},
                                               {"write-iops-sec-max", 1, "N", 0},
                                               {"size-iops-sec", 1, "N", 0},
                                               {"total-bytes-sec-max-length", 1, "SEC", 0},
                                               {"read-bytes-sec-max-length", 1, "SEC", 0},
                                               {"write-bytes-sec-max-length", 1, "SEC", 0},
                                               {"total-iops-sec-max-length", 1, "SEC", 0},
                                               {"read-iops-sec-max-length", 1, "SEC", 0},
                                               {"write-iops-sec-max-length", 1, "SEC", 0},
                                               {"weight", 1, "W", 0},
                                               {"reservation", 1, "UNITS", 0},
                                               {NULL, 0, NULL, 0}};
static const struct ctl_opt migrate_opts[] = {
    {"live", 0, NULL, 0}, {"bandwidth", 1, "MB/s", 0}, {"max-downtime", 1, "TIME", 0}, {NULL, 0, NULL, 0}};
static const struct ctl_opt restore_opts[] = {{"paused", 0, NULL, 0},  {"snapshot", 0, NULL, 0}, {"name", 1, "NEW", 0},
                                              {"console", 0, NULL, 0}, {"linger", 1, "SEC", 0},  {NULL, 0, NULL, 0}};
static const struct ctl_opt sched_opts[] = {{"reservation", 1, "PCT", 0},
                                            {"limit", 1, "PCT", 0},
                                            {"weight", 1, "N", 0},
                                            {"period", 1, "TIME", 0},
                                            {NULL, 0, NULL, 0}};
static const struct ctl_opt top_opts[] = {
    {"delay", 1, "SEC", 'd'}, {"iterations", 1, "N", 'n'}, {"batch", 0, NULL, 'b'}, {NULL, 0, NULL, 0}};
static const struct ctl_opt token_opts[] = {{"sponsor", 1, "NAME", 0},
                                            {"operator", 0, NULL, 0},
                                            {"read-only", 0, NULL, 0},
                                            {"expires", 1, "DURATION", 0},
                                            {NULL, 0, NULL, 0}};
static const struct ctl_opt bill_opts[] = {
    {"from", 1, "TIME", 0}, {"to", 1, "TIME", 0},      {"by", 1, "resource|domain|day", 0},
    {"csv", 0, NULL, 0},    {"explain", 1, "LINE", 0}, {"host", 0, NULL, 0},
    {NULL, 0, NULL, 0}};
static const struct ctl_opt policy_opts[] = {{"max-reservation", 1, "PCT", 0},
                                             {"max-limit", 1, "PCT", 0},
                                             {"no-sched", 0, NULL, 0},
                                             {"save", 0, NULL, 0},
                                             {"no-save", 0, NULL, 0},
                                             {"disk-total-iops-sec", 1, "N", 0},
                                             {"disk-total-bytes-sec", 1, "N", 0},
                                             {NULL, 0, NULL, 0}};
static const struct ctl_opt audit_opts[] = {{"key", 1, "FILE", 0},   {"sponsor", 1, "S", 0},  {"domain", 1, "D", 0},
                                            {"since", 1, "TIME", 0}, {"until", 1, "TIME", 0}, {"dst", 1, "IP", 0},
                                            {NULL, 0, NULL, 0}};
static const struct ctl_opt disk_opts[] = {{"image-dir", 1, "DIR", 0},
                                           {"size", 1, "SIZE", 0},
                                           {"base", 1, "BASE", 0},
                                           {"cluster-size", 1, "SIZE", 0},
                                           {NULL, 0, NULL, 0}};

#define CONSOLE_TEXT                                                                                                   \
    "On a terminal, keys go to the guest as typed (Ctrl-C included) and Ctrl-] detaches; the terminal\n"               \
    "is restored however xenctl ends. When stdin is not a terminal, stdin is sent to the guest until it\n"             \
    "ends, then output is copied for --linger SEC more (default 0.5) before xenctl exits; it also\n"                   \
    "exits when the console closes (the domain stopped).\n"

const struct ctl_command ctl_commands[] = {
    {"create", "FILE... [--paused] [--console] [--policy binpack|spread]",
     "create and start transient domains from domain XML files",
     "Sends FILE to xenod and starts the domain. A transient domain is forgotten once it stops for good.\n"
     "Several FILEs are created one after the other (one xenctl for many domains costs the host less\n"
     "than one each); a failure is reported and the others still go, the exit status is the first\n"
     "failure's. --console takes one FILE.\n"
     "  --paused       start with the vCPUs paused (`xenctl unpause` runs them)\n"
     "  --console      attach to its console right away (see `xenctl console --help`)\n"
     "  --linger SEC   with --console and a non-terminal stdin: see `xenctl console --help`\n"
     "With --fleet ETCD_URLS: the placer chooses the host (docs/fleet.md) and claims the domain's\n"
     "reservation there in etcd, then that host's xenod starts it (one FILE at a time).\n"
     "  --policy P     binpack (default: fill hosts one by one) or spread (the emptiest host)\n",
     fleet_create_opts, 1, CTL_ARGS_MAX_POS, ctl_cmd_create},
    {"define", "FILE", "define a persistent domain from a domain XML file, without starting it",
     "Sends FILE to xenod, which keeps the definition until `xenctl undefine`. `xenctl start` runs it.\n", NULL, 1, 1,
     ctl_cmd_define},
    {"start", "REF [--paused] [--console]", "start a defined domain",
     "  --paused       start with the vCPUs paused\n"
     "  --console      attach to its console right away\n"
     "  --linger SEC   with --console and a non-terminal stdin: see `xenctl console --help`\n",
     create_opts, 1, 1, ctl_cmd_start},
    {"undefine", "REF", "forget a persistent domain (it must not be running)", "", NULL, 1, 1, ctl_cmd_undefine},
    {"list", "[--sponsor NAME] [--state STATE] [--limit N [--after NAME]]",
     "list domains: Name ID Sponsor Mem VCPUs State Time(s)",
     "Columns: Name; ID (`-` when not running); Sponsor (`-` if none); Mem, the current memory in MiB;\n"
     "VCPUs; State (running, blocked, paused, shutdown, crashed); Time(s), CPU time used, in seconds.\n"
     "  --sponsor NAME   only that sponsor's domains\n"
     "  --state STATE    only domains in that state\n"
     "  --limit N        at most N domains (1..10000), in name order; when there are more, stderr\n"
     "                   says the command for the next page (--after the last name shown)\n"
     "  --after NAME     the domains whose names sort after NAME, in name order\n",
     list_opts, 0, 0, ctl_cmd_list},
    {"info", "REF", "show one domain's details as \"Key: value\" lines", "", NULL, 1, 1, ctl_cmd_info},
    {"hosts", "--fleet ETCD_URLS", "show the fleet's hosts: state, capacity, reservations, lease",
     "Every host registered in the fleet's etcd (docs/fleet.md): State (active, draining); CPUs;\n"
     "Capacity, the CPU its admission control may promise; Reserved, the larger of what placers claimed\n"
     "and what its xenod holds; Mem(MiB), claimed/total; Domains placed there; Lease, seconds left of\n"
     "its lease / its TTL (a host whose lease ends is out of the fleet).\n",
     NULL, 0, 0, ctl_cmd_hosts},
    {"drain", "HOST --fleet ETCD_URLS [--parallel N] [--policy P]",
     "move every fleet domain off HOST, live, and place nothing new there",
     "Marks HOST draining in the fleet's etcd (placers skip it), then moves each domain placed there to\n"
     "a host the placer chooses (docs/fleet.md \"Drain\"): its room is claimed there first, HOST's xenod\n"
     "migrates it live to that host's --migrate-listen, then the fleet record follows it. A domain that\n"
     "cannot move stays where it runs and is reported; the exit status is then 1. HOST stays draining.\n"
     "  --parallel N   domains moving at once (1..16, default 1)\n"
     "  --policy P     spread (default: the emptiest host) or binpack\n",
     drain_opts, 1, 1, ctl_cmd_drain},
    {"host", "", "show the host's details: domains, CPUs, whether guests see exactly the CPUID policy",
     "`CPU contract` says whether this host's KVM gives guests exactly XenoServer's CPUID policy\n"
     "(docs/machine.md); if not, `CPU extra` and `CPU missing` name the features that differ.\n",
     NULL, 0, 0, ctl_cmd_host},
    {"dumpxml", "REF", "print a domain's definition as libvirt domain XML",
     "The definition as xenod keeps it, with what it filled in written out (UUID, absolute kernel and\n"
     "initrd paths, current memory, vCPUs, lifecycle actions): `xenctl define` of the output, once the\n"
     "domain is undefined, gives the same domain (docs/domain-xml.md, \"Round trip\").\n",
     NULL, 1, 1, ctl_cmd_dumpxml},
    {"edit", "REF", "edit a domain's definition in $EDITOR and redefine it",
     "Opens the `dumpxml` text in $VISUAL or $EDITOR (default vi). Once the editor exits 0 with a\n"
     "changed file, xenod checks it as `define` does and replaces the definition. The domain must be\n"
     "shut off (a running domain's definition is what its monitor runs) and keep its UUID. A refused\n"
     "edit changes nothing: every problem is listed, then (on a terminal) you may edit again; the\n"
     "edited text is never lost, its file is named.\n",
     NULL, 1, 1, ctl_cmd_edit},
    {"pause", "REF", "stop a domain's vCPUs (it keeps its memory)", "", NULL, 1, 1, ctl_cmd_pause},
    {"unpause", "REF", "run a paused domain's vCPUs again", "", NULL, 1, 1, ctl_cmd_unpause},
    {"shutdown", "REF [--wait] [--timeout SEC]", "ask the guest to power off",
     "The guest is asked; it may take its time or refuse (then `xenctl destroy` stops it).\n"
     "  --wait         return only once it has stopped\n"
     "  --timeout SEC  with --wait (implied): give up after SEC seconds, 0 to 3600 (default 30);\n"
     "                 then the exit status is 4 and the domain keeps running\n",
     shutdown_opts, 1, 1, ctl_cmd_shutdown},
    {"reboot", "REF", "ask the guest to reboot", "The guest is asked; it may take its time or refuse.\n", NULL, 1, 1,
     ctl_cmd_reboot},
    {"reset", "REF", "reset the domain at once, as if its reset line was pulled",
     "A hard reset: the domain's on_reboot action applies (restart boots it afresh).\n", NULL, 1, 1, ctl_cmd_reset},
    {"mem-set", "REF SIZE [--deadline TIME]", "give the domain a memory target: it must shrink (or may grow) to SIZE",
     "SIZE: 10000p (4 KiB pages), 40M, 1G, 65536K; a bare number is MiB. The guest's balloon driver\n"
     "gives memory back (or takes it) and the monitor releases what it gives. If the guest's resident\n"
     "memory is not within 5% of SIZE when the deadline passes, the domain's memory enforcement applies\n"
     "(pause, destroy or report, from its XML) and an event records it (`xenctl events REF`).\n"
     "  --deadline TIME  how long it has: 1s, 500ms, 2.5s, 1m (default 10s)\n",
     mem_set_opts, 2, 2, ctl_cmd_mem_set},
    {"sched", "[REF] [--reservation PCT] [--limit PCT] [--weight N] [--period TIME]",
     "show or change CPU scheduling: reservation, limit, weight, period",
     "Without REF: every domain's settings (Name ID State Reservation Limit Weight Period Time(s)).\n"
     "With REF alone: its settings, exact CPU time per vCPU and what the scheduler did.\n"
     "With options: changes them live (they take effect within two periods) and for its next starts.\n"
     "Reservation and limit are shares of one CPU for all the domain's vCPUs together.\n"
     "  --reservation PCT  CPU guaranteed in every period, e.g. 25% (0: none); refused when the\n"
     "                     host's reservations would not fit (the message says what does)\n"
     "  --limit PCT        hard ceiling in every period, e.g. 50% (none: no limit)\n"
     "  --weight N         share of the CPU nobody reserved, 2 to 262144 (default 1024)\n"
     "  --period TIME      time scale of reservation and limit, 1ms to 1s (default 10ms)\n",
     sched_opts, 0, 1, ctl_cmd_sched},
    {"top", "[-b] [-d SEC] [-n N]", "refresh a table of the CPU each domain uses",
     "Columns: Name ID State CPU% (of one CPU, over the last interval) Thr% (of the time held back\n"
     "by its limit) Res Limit Time(s) (exact CPU time) Cost/h (at the last interval's rates, priced by\n"
     "the list in force: docs/billing.md), then the cost per hour per sponsor. Ctrl-C ends it.\n"
     "  -d, --delay SEC       seconds between frames (default 1)\n"
     "  -n, --iterations N    stop after N frames (default: never)\n"
     "  -b, --batch           plain frames one after the other, never a terminal control code\n"
     "                        (as xentop -b: for scripts and logs); the first frame has no rates\n",
     top_opts, 0, 0, ctl_cmd_top},
    {"save", "REF FILE [--keep-running] [--shrink] [--snapshot]", "suspend a domain to a snapshot file",
     "The monitor pauses the domain and writes its whole state to FILE (on xenod's host; a relative\n"
     "FILE is taken from this directory), sparsely: zero and ballooned pages are left out. Then the\n"
     "domain stops, unless --keep-running. `xenctl restore FILE` resumes it, here or on another host\n"
     "(docs/snapshot-format.md).\n"
     "  --keep-running  go on running after the snapshot is written\n"
     "  --shrink        first ask the guest (balloon) to give back the memory it reports free, so\n"
     "                  the file holds only what it uses; it gets the memory back afterwards\n"
     "  --snapshot      FILE is a snapshot name, not a path: a sponsor's (with --server and its\n"
     "                  token), kept by xenod in the sponsor's own directory (docs/api.md, Scoping)\n",
     save_opts, 2, 2, ctl_cmd_save},
    {"restore", "FILE [--paused] [--name NEW] [--console] [--snapshot]", "resume a domain from a snapshot file",
     "xenod checks FILE whole (on its host; a relative FILE is taken from this directory), then resumes\n"
     "the domain whose definition the snapshot carries in a new monitor, with its memory, devices and\n"
     "vCPUs as they were. If that domain is defined here and stopped, it is the one resumed; if it is\n"
     "not known here (another host's snapshot), it is defined as a transient domain. A domain with the\n"
     "same name or UUID that runs here is a conflict: --name makes a copy.\n"
     "  --paused       resume with the vCPUs paused (`xenctl unpause` runs them)\n"
     "  --name NEW     resume a copy under a new name, with a new UUID\n"
     "  --snapshot     FILE is the name of a sponsor's snapshot (see `xenctl save --help`)\n"
     "  --console      attach to its console right away\n"
     "  --linger SEC   with --console and a non-terminal stdin: see `xenctl console --help`\n",
     restore_opts, 1, 1, ctl_cmd_restore},
    {"migrate", "REF HOST[:PORT] [--live] [--bandwidth MB/s] [--max-downtime TIME]",
     "move a running domain to another host's xenod",
     "HOST's xenod must run with --migrate-listen (default port 7430) and both with the same\n"
     "--migrate-key. The domain's definition, sponsor and console log go along; it stops here once\n"
     "it runs there, and on any failure it runs on here. Progress goes to stderr while it runs.\n"
     "  --live             copy memory in rounds while it runs, then stop only for the rest\n"
     "                     (without: one pass while it runs, then stop and copy what changed)\n"
     "  --bandwidth MB/s   limit the rounds (not the final copy) to MB/s\n"
     "  --max-downtime TIME  the pause to aim for (default 100ms)\n",
     migrate_opts, 2, 2, ctl_cmd_migrate},
    {"net-qos", "REF [--inbound AVG[,PEAK[,BURST]]] [--outbound AVG[,PEAK[,BURST[,FLOOR]]]] [--weight N]",
     "set a domain's network QoS, live",
     "The whole setting: what is not given has no limit. Units are libvirt's <bandwidth>: AVG, PEAK and\n"
     "FLOOR in kilobytes/s (1000 bytes), BURST in KiB. Inbound is what the domain receives, outbound what\n"
     "it sends; FLOOR (outbound) is guaranteed on the uplink under contention and WEIGHT (1-1000) is its\n"
     "share there (docs/network.md). A running domain gets it at once; a stopped one at its next start.\n",
     net_qos_opts, 1, 1, ctl_cmd_net_qos},
    {"disk-qos", "REF TARGET [--total-iops-sec N] [--read-bytes-sec N] [...] [--weight W] [--reservation UNITS]",
     "show or change a disk's QoS, live (as virsh blkdeviotune)",
     "Options are libvirt's <iotune> names with dashes: --{total,read,write}-{bytes,iops}-sec, each also\n"
     "with -max (a burst) and -max-length (its seconds), and --size-iops-sec. --weight (100-1000) is the\n"
     "domain's <blkiotune> weight (every disk's); --reservation is the disk's guarantee in cost units/s\n"
     "(about IOPS at the reference size: docs/blkback.md), admitted against the host's calibrated\n"
     "capacity (operator only). Values given replace the disk's (0: none); the others stay; with no\n"
     "option it prints them. A running domain gets the change at once; a stopped one at its next start.\n",
     disk_qos_opts, 2, 2, ctl_cmd_disk_qos},
    {"destroy", "REF", "stop a domain at once (like pulling the plug)",
     "A transient domain is then gone; a persistent one stays defined.\n", NULL, 1, 1, ctl_cmd_destroy},
    {"console", "REF [--dump [--tail BYTES]] [--linger SEC]", "attach to a domain's console, or print its log",
     "Attaches this terminal to the domain's serial console; output starts with the recent scrollback.\n" CONSOLE_TEXT
     "  --dump         print the console log xenod keeps and exit (works for stopped domains too)\n"
     "  --tail BYTES   with --dump: only the last BYTES of it (e.g. 4096, 64K)\n"
     "  --linger SEC   non-terminal stdin: how long to keep copying output after stdin ends\n",
     console_opts, 1, 1, ctl_cmd_console},
    {"events", "[REF] [--limit N] [--follow]", "show the event history (of one domain), oldest first",
     "Columns: ID Time Domain Kind Detail.\n"
     "  --limit N      the last N events (default: xenod's, 100)\n"
     "  --follow       then print every new event as it happens (within a second), one line each\n"
     "                 (with --json: one JSON object a line), until interrupted\n",
     events_opts, 0, 1, ctl_cmd_events},
    {"dmesg", "", "show xenod's recent log lines", "", NULL, 0, 0, ctl_cmd_dmesg},
    {"audit", "verify|query FILE [OPTIONS]", "check or search a network flow log (no daemon needed)",
     "Works on the flow log file itself (docs/flowlog-format.md, docs/audit.md); xenod need not run.\n"
     "  audit verify FILE [--key KEYFILE]\n"
     "      checks the hash chain, every block's payload and index, and with --key every seal;\n"
     "      exit 1 naming the first bad block (altered, deleted, reordered or torn)\n"
     "  audit query FILE (--sponsor S | --domain D) --since TIME [--until TIME] [--dst IP]\n"
     "      prints the flows that match, one per line (--json: an array); blocks the index rules\n"
     "      out are not decompressed. TIME: seconds since the epoch or YYYY-MM-DDTHH:MM:SS[.fff]Z.\n"
     "      --dst is the contacted side: the remote end of flows the domain opened.\n",
     audit_opts, 2, 2, ctl_cmd_audit},
    {"token", "create|list|revoke [OPTIONS]", "manage the API's bearer tokens (the operator's)",
     "Tokens let sponsors (and remote operators) use xenod over HTTPS: `xenctl --server URL\n"
     "--token-file FILE ...` (docs/xenctl.md \"Remote\", docs/api.md). Only their salted hash is kept.\n"
     "  token create (--sponsor NAME | --operator) [--read-only] [--expires DURATION]\n"
     "      prints the secret on stdout, alone, this once (e.g. `(umask 077; xenctl token create\n"
     "      --sponsor alice >alice.token)`); a sponsor token reaches that sponsor's domains only,\n"
     "      --read-only: GET requests only; DURATION: 3600, 90m, 12h, 30d, 2w (default: never)\n"
     "  token list\n"
     "      ID Sponsor Access Created Expires State (never a secret)\n"
     "  token revoke ID\n"
     "      the token is refused from now on\n",
     token_opts, 1, 2, ctl_cmd_token},
    {"bill", "[SPONSOR] --from TIME --to TIME [--by resource|domain|day] [--csv] [--explain LINE] [--host]",
     "a sponsor's bill for a period, or the host's",
     "Prices the sponsor's usage in the ledger with xenod's price list (docs/billing.md): one line\n"
     "per resource (--by domain: per domain and resource, --by day: per UTC day and resource) and\n"
     "price in force; a price change inside the period splits a line there. Quantities and money\n"
     "are exact decimals of integer micro-units. TIME: YYYY-MM-DDTHH:MM:SSZ or seconds since 1970.\n"
     "A sponsor token sees its own bill only. --csv: one line per bill line; --json: the API's.\n"
     "--explain LINE: line LINE (from 1, in the bill's order) rebuilt from the ledger's raw postings:\n"
     "each transaction (or the part of it in the line), its postings, its share, the rule's pick,\n"
     "and the sums and the arithmetic that give the line's quantity and amount.\n"
     "--host (operator only, no SPONSOR): the host's bill: each sponsor's charges, idle capacity,\n"
     "overhead (xenod, xeno-netback, the monitors) and other, against the host's capacity, in\n"
     "CPU-seconds and memory GiB-seconds (docs/billing.md, \"The host's bill\").\n",
     bill_opts, 0, 1, ctl_cmd_bill},
    {"sponsor-policy",
     "SPONSOR [--max-reservation PCT] [--max-limit PCT] [--no-sched] [--save|--no-save] [--disk-total-iops-sec N] "
     "[--disk-total-bytes-sec N]",
     "show or change what the operator allows a sponsor: sched within limits, snapshots, disk I/O",
     "Without options: the sponsor's policy (a sponsor token may read its own). With options\n"
     "(operator only) the policy changes; what is not given stays. --max-reservation: the CPU its\n"
     "running domains may reserve in all (percent of one CPU); --max-limit: the highest limit each\n"
     "may have (a limit must then be given; unset: any); --no-sched: no sched changes at all.\n"
     "--save: it may save and restore snapshots by name (the API's \"snapshot\" field), in\n"
     "SAVE_DIR/sponsors/SPONSOR/ only. No policy: neither (docs/api.md, Scoping).\n"
     "--disk-total-iops-sec, --disk-total-bytes-sec: a limit over all the sponsor's disks on this\n"
     "host, whatever their domains (0: none); running disks take it at once.\n",
     policy_opts, 1, 1, ctl_cmd_sponsor_policy},
    {"disk", "create|info|commit|convert ARGS [--image-dir DIR]", "make, describe, merge, import disk images",
     "Works on the image directory of this host (--image-dir, default " IMAGE_DIR_DEFAULT "); xenod need\n"
     "not run. NAME is relative to it; a name ending in .ovl is a copy-on-write overlay, any other a\n"
     "raw (sparse) image (docs/blkback.md \"Images\", docs/overlay-format.md).\n"
     "  disk create NAME --size SIZE              a raw image of SIZE bytes (10G, 512M, 4096K)\n"
     "  disk create NAME.ovl --base BASE [--size SIZE] [--cluster-size SIZE]\n"
     "      an overlay on raw image BASE (size: BASE's, or more); many overlays share one base,\n"
     "      which must then not change (an overlay of a changed base is refused)\n"
     "  disk info NAME      format, sizes, an overlay's clusters and whether its base is intact\n"
     "  disk commit NAME.ovl\n"
     "      writes the overlay into its base (no overlay of it may be open) and empties it; other\n"
     "      overlays of that base are refused from then on\n"
     "  disk convert SRC.qcow2 NAME\n"
     "      imports a qcow2 file as raw image NAME with qemu-img (refused: a backing file or an\n"
     "      external data file)\n",
     disk_opts, 2, 3, ctl_cmd_disk},
    {"help", "[COMMAND]", "show this help, or a command's", "", NULL, 0, 1, ctl_cmd_help},
    {NULL, NULL, NULL, NULL, NULL, 0, 0, NULL},
};

const struct ctl_command *ctl_command_find(const char *name)
{
    for (const struct ctl_command *cmd = ctl_commands; cmd->name; cmd++)
        if (strcmp(cmd->name, name) == 0)
            return cmd;
    return NULL;
}

void ctl_print_usage(FILE *f)
{
    fprintf(f, "usage: xenctl [--socket PATH | --server URL --token-file FILE] [--json] COMMAND [ARGS]\n"
               "\n"
               "Controls XenoServer domains through xenod. REF is a domain's name, UUID or ID.\n"
               "\n"
               "Commands:\n");
    for (const struct ctl_command *cmd = ctl_commands; cmd->name; cmd++) {
        /* Printed straight from the table (no buffer to cut a long synopsis short). Long
         * synopses get a line of their own; the summary follows aligned. */
        int head_len = (int)(strlen(cmd->name) + 1 + strlen(cmd->synopsis));
        if (head_len <= 30)
            fprintf(f, "  %s %s%*s %s\n", cmd->name, cmd->synopsis, 30 - head_len, "", cmd->summary);
        else
            fprintf(f, "  %s %s\n  %-30s %s\n", cmd->name, cmd->synopsis, "", cmd->summary);
    }
    fprintf(f, "\n"
               "Options (before or after the command):\n"
               "  --socket PATH   xenod's API socket (default: $XENOD_SOCKET, else " CTL_DEFAULT_SOCKET ")\n"
               "  --server URL    a xenod over HTTPS, https://HOST:PORT (or $XENO_SERVER), with a token\n"
               "  --token-file F  the bearer token (mode 0600, else refused), or $XENO_TOKEN\n"
               "  --cacert FILE   the CA that signed the server's certificate (default: the system's)\n"
               "  --fleet URLS    the fleet's etcd, http(s)://HOST:PORT[,...] (create, list, hosts, drain)\n"
               "  --etcd-ca FILE  the CA of etcd's https:// members; --etcd-cert F --etcd-key F  client cert\n"
               "  --json          print the API's JSON instead of tables and text\n"
               "  --help, -h      this help; `xenctl COMMAND --help` for a command's\n"
               "  --version       print xenctl's version\n"
               "\n"
               "Exit status: 0 ok, 1 xenod refused or failed the request, 2 usage error, 3 cannot reach\n"
               "xenod, 4 timed out. See docs/xenctl.md.\n");
}

void ctl_print_command_help(const struct ctl_command *cmd, FILE *f)
{
    fprintf(f, "usage: xenctl [--socket PATH] [--json] %s%s%s\n\n%c%s.\n", cmd->name, *cmd->synopsis ? " " : "",
            cmd->synopsis, toupper((unsigned char)cmd->summary[0]), cmd->summary + 1);
    if (*cmd->details)
        fprintf(f, "\n%s", cmd->details);
}

const char *ctl_command_usage(const struct ctl_command *cmd, char *buf, size_t size)
{
    snprintf(buf, size, "xenctl %s%s%s", cmd->name, *cmd->synopsis ? " " : "", cmd->synopsis);
    return buf;
}

int ctl_check_positional(const struct ctl_command *cmd, const struct ctl_args *a)
{
    char usage[CTL_USAGE_MAX];
    if (a->npos < cmd->min_pos) {
        /* The synopsis's first word names what is missing (FILE, REF). */
        return ctl_usage_error("%s needs %.*s (usage: %s)", cmd->name, (int)strcspn(cmd->synopsis, " "), cmd->synopsis,
                               ctl_command_usage(cmd, usage, sizeof(usage)));
    }
    if (a->npos > cmd->max_pos)
        return ctl_usage_error("%s: unexpected argument '%s' (usage: %s)", cmd->name, a->pos[cmd->max_pos],
                               ctl_command_usage(cmd, usage, sizeof(usage)));
    return CTL_EXIT_OK;
}

int ctl_cmd_help(const struct ctl *c, const struct ctl_args *a)
{
    (void)c;
    if (a->npos == 0) {
        ctl_print_usage(stdout);
        return CTL_EXIT_OK;
    }
    const struct ctl_command *cmd = ctl_command_find(a->pos[0]);
    if (!cmd)
        return ctl_usage_error("unknown command '%s' (run `xenctl help` for the list)", a->pos[0]);
    ctl_print_command_help(cmd, stdout);
    return CTL_EXIT_OK;
}
