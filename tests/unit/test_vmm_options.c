/* xeno-vmm's command line (src/vmm/host/options.c): lifecycle actions and their old aliases,
 * the daemon-mode options and what they depend on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "vmm/host/options.h"

#define PARSE(o, ...)                                                                                                  \
    ({                                                                                                                 \
        char *argv_[] = {"xeno-vmm", __VA_ARGS__, NULL};                                                               \
        options_parse((int)(sizeof(argv_) / sizeof(argv_[0])) - 1, argv_, (o));                                        \
    })

static void defaults(void **state)
{
    (void)state;
    struct options o;
    assert_int_equal(PARSE(&o, "--kernel", "k.elf"), 0);
    assert_string_equal(o.kernel, "k.elf");
    assert_int_equal(o.on_poweroff, ACTION_DESTROY);
    assert_int_equal(o.on_reboot, ACTION_DESTROY);
    assert_int_equal(o.on_crash, ACTION_DESTROY);
    assert_null(o.run_dir);
    assert_null(o.name);
    assert_int_equal(o.console_log_size, 1 << 20);
    assert_int_equal(o.paused, 0);
    assert_int_equal(o.nvcpus, 1);
    assert_int_equal(o.mem_size, 64 << 20);
}

static void actions(void **state)
{
    (void)state;
    struct options o;
    assert_int_equal(
        PARSE(&o, "--kernel", "k", "--on-poweroff", "restart", "--on-reboot", "preserve", "--on-crash", "preserve"), 0);
    assert_int_equal(o.on_poweroff, ACTION_RESTART);
    assert_int_equal(o.on_reboot, ACTION_PRESERVE);
    assert_int_equal(o.on_crash, ACTION_PRESERVE);
    assert_int_equal(PARSE(&o, "--kernel", "k", "--on-reboot", "restart"), 0);
    assert_int_equal(o.on_reboot, ACTION_RESTART);
    assert_int_equal(PARSE(&o, "--kernel", "k", "--on-reboot", "exit"), 0); /* the old name */
    assert_int_equal(o.on_reboot, ACTION_DESTROY);
    assert_int_equal(PARSE(&o, "--kernel", "k", "--on-crash", "destroy"), 0);
    assert_int_equal(o.on_crash, ACTION_DESTROY);
    assert_string_equal(options_action_name(ACTION_PRESERVE), "preserve");
}

static void bad_actions(void **state)
{
    (void)state;
    struct options o;
    assert_int_equal(PARSE(&o, "--kernel", "k", "--on-reboot", "maybe"), -1);
    assert_int_equal(PARSE(&o, "--kernel", "k", "--on-poweroff", "exit"), -1); /* alias only for reboot */
    assert_int_equal(PARSE(&o, "--kernel", "k", "--on-crash", "Restart"), -1);
    assert_int_equal(PARSE(&o, "--kernel", "k", "--on-crash"), -1);
}

static void daemon_options(void **state)
{
    (void)state;
    struct options o;
    assert_int_equal(
        PARSE(&o, "--kernel", "k", "--run-dir", "/run/x", "--name", "web", "--console-log-size", "64K", "--paused"), 0);
    assert_string_equal(o.run_dir, "/run/x");
    assert_string_equal(o.name, "web");
    assert_int_equal(o.console_log_size, 64 << 10);
    assert_int_equal(o.paused, 1);
    assert_int_equal(PARSE(&o, "--kernel", "k", "--run-dir", "/r", "--console-log-size", "5000"), 0);
    assert_int_equal(o.console_log_size, 5000); /* a bare number is bytes */
}

static void daemon_options_checked(void **state)
{
    (void)state;
    struct options o;
    assert_int_equal(PARSE(&o, "--kernel", "k", "--run-dir", "/r", "--console-log-size", "100"), -1); /* < 1 KiB */
    assert_int_equal(PARSE(&o, "--kernel", "k", "--run-dir", "/r", "--console-log-size", "lots"), -1);
    assert_int_equal(PARSE(&o, "--kernel", "k", "--paused"), -1);                 /* needs --run-dir */
    assert_int_equal(PARSE(&o, "--kernel", "k", "--console-log-size", "2M"), -1); /* needs --run-dir */
    assert_int_equal(PARSE(&o, "--run-dir", "/r"), -1);                           /* no kernel */
}

/* --cpu-*: CPU scheduling (docs/scheduling.md). */
static void cpu_options(void **state)
{
    (void)state;
    struct options o;
    assert_int_equal(PARSE(&o, "--kernel", "k"), 0);
    assert_int_equal(o.sched.reservation_ppm, 0);
    assert_int_equal(o.sched.limit_ppm, 0);
    assert_int_equal(o.sched.weight, 1024);
    assert_int_equal(o.sched.period_us, 10000);
    assert_int_equal(PARSE(&o, "--kernel", "k", "--vcpus", "2", "--cpu-reservation", "30%", "--cpu-limit", "150.5%",
                           "--cpu-weight", "512", "--cpu-period", "2.5ms"),
                     0);
    assert_int_equal(o.sched.reservation_ppm, 300000);
    assert_int_equal(o.sched.limit_ppm, 1505000);
    assert_int_equal(o.sched.weight, 512);
    assert_int_equal(o.sched.period_us, 2500);
    /* What xenod passes: exact ppm as a percentage with 4 decimals, the period in us. */
    assert_int_equal(PARSE(&o, "--kernel", "k", "--cpu-reservation", "12.3456%", "--cpu-limit", "0.0000%",
                           "--cpu-period", "20000us"),
                     0);
    assert_int_equal(o.sched.reservation_ppm, 123456);
    assert_int_equal(o.sched.limit_ppm, 0);
    assert_int_equal(o.sched.period_us, 20000);
    assert_int_equal(PARSE(&o, "--kernel", "k", "--cpu-limit", "150%"), -1); /* 1 vCPU */
    assert_int_equal(PARSE(&o, "--kernel", "k", "--cpu-reservation", "60%", "--cpu-limit", "50%"), -1);
    assert_int_equal(PARSE(&o, "--kernel", "k", "--cpu-weight", "1"), -1);
    assert_int_equal(PARSE(&o, "--kernel", "k", "--cpu-period", "500us"), -1);
    assert_int_equal(PARSE(&o, "--kernel", "k", "--cpu-period", "2s"), -1);
    assert_int_equal(PARSE(&o, "--kernel", "k", "--cpu-limit", "lots"), -1);
    assert_int_equal(PARSE(&o, "--kernel", "k", "--cpu-limit", "0.5%"), -1); /* too small to enforce */
}

/* --net socket=PATH,mac=MAC: one interface; the socket defaults into the run directory. */
static void net_option(void **state)
{
    (void)state;
    struct options o;
    assert_int_equal(PARSE(&o, "--kernel", "k"), 0);
    assert_int_equal(o.have_net, 0);
    assert_int_equal(PARSE(&o, "--kernel", "k", "--net", "socket=/tmp/n.sock,mac=52:54:00:AB:cd:ef"), 0);
    assert_int_equal(o.have_net, 1);
    assert_string_equal(o.net.socket_path, "/tmp/n.sock");
    assert_memory_equal(o.net.mac, ((uint8_t[]){0x52, 0x54, 0, 0xab, 0xcd, 0xef}), 6);
    assert_int_equal(PARSE(&o, "--kernel", "k", "--run-dir", "/run/x/d1", "--net", "mac=52:54:00:00:00:01"), 0);
    assert_string_equal(o.net.socket_path, "/run/x/d1/net0.sock");
    assert_int_equal(PARSE(&o, "--kernel", "k", "--net", "mac=52:54:00:00:00:01,socket=/s"), 0);
    assert_string_equal(o.net.socket_path, "/s");

    assert_int_equal(PARSE(&o, "--kernel", "k", "--net", "mac=52:54:00:00:00:01"), -1); /* no socket, no run dir */
    assert_int_equal(PARSE(&o, "--kernel", "k", "--net", "socket=/s"), -1);             /* no MAC */
    assert_int_equal(PARSE(&o, "--kernel", "k", "--net", "socket=/s,mac=01:00:5e:00:00:01"), -1); /* multicast */
    assert_int_equal(PARSE(&o, "--kernel", "k", "--net", "socket=/s,mac=52:54:00:00:01"), -1);
    assert_int_equal(PARSE(&o, "--kernel", "k", "--net", "socket=/s,mac=52:54:00:00:00:01,vlan=3"), -1);
    assert_int_equal(PARSE(&o, "--kernel", "k", "--net", "socket=,mac=52:54:00:00:00:01"), -1);
    assert_int_equal(PARSE(&o, "--kernel", "k", "--net", "socket=/a,mac=52:54:00:00:00:01", "--net",
                           "socket=/b,mac=52:54:00:00:00:02"),
                     -1); /* one interface */
    char longpath[200];
    memset(longpath, 'a', sizeof(longpath));
    memcpy(longpath, "socket=/", 8);
    strcpy(longpath + 150, ",mac=52:54:00:00:00:01");
    assert_int_equal(PARSE(&o, "--kernel", "k", "--net", longpath), -1); /* longer than sun_path */
}

/* --disk socket=PATH,size=BYTES[,readonly][,queues=N]: one virtio-blk disk per option. */
static void disk_option(void **state)
{
    (void)state;
    struct options o;
    assert_int_equal(PARSE(&o, "--kernel", "k"), 0);
    assert_int_equal(o.ndisks, 0);
    assert_int_equal(PARSE(&o, "--kernel", "k", "--disk", "socket=/tmp/d.sock,size=4M"), 0);
    assert_int_equal(o.ndisks, 1);
    assert_string_equal(o.disks[0].socket_path, "/tmp/d.sock");
    assert_int_equal(o.disks[0].capacity, 4u << 20);
    assert_int_equal(o.disks[0].queues, 1);
    assert_false(o.disks[0].readonly);
    assert_int_equal(PARSE(&o, "--kernel", "k", "--disk", "readonly,size=1024,socket=/s"), 0);
    assert_true(o.disks[0].readonly);
    assert_int_equal(o.disks[0].capacity, 1024);
    assert_int_equal(PARSE(&o, "--kernel", "k", "--disk", "socket=/s"), -1);           /* no size */
    assert_int_equal(PARSE(&o, "--kernel", "k", "--disk", "size=1M"), -1);             /* no socket */
    assert_int_equal(PARSE(&o, "--kernel", "k", "--disk", "socket=/s,size=1000"), -1); /* not whole sectors */
    assert_int_equal(PARSE(&o, "--kernel", "k", "--disk", "socket=/s,size=0"), -1);
    assert_int_equal(PARSE(&o, "--kernel", "k", "--disk", "socket=/s,size=1M,cache=none"), -1);
}

/* --disk once per disk, in order, each with its own socket and queue count. */
static void disk_option_many(void **state)
{
    (void)state;
    struct options o;
    assert_int_equal(
        PARSE(&o, "--kernel", "k", "--disk", "socket=/a,size=1M,queues=4", "--disk", "socket=/b,size=2M,readonly"), 0);
    assert_int_equal(o.ndisks, 2);
    assert_string_equal(o.disks[0].socket_path, "/a");
    assert_int_equal(o.disks[0].queues, 4);
    assert_int_equal(o.disks[0].index, 0);
    assert_false(o.disks[0].readonly);
    assert_string_equal(o.disks[1].socket_path, "/b");
    assert_int_equal(o.disks[1].capacity, 2u << 20);
    assert_int_equal(o.disks[1].queues, 1);
    assert_int_equal(o.disks[1].index, 1);
    assert_true(o.disks[1].readonly);
    /* Two disks on one socket would be one backend connection for two devices. */
    assert_int_equal(PARSE(&o, "--kernel", "k", "--disk", "socket=/a,size=1M", "--disk", "socket=/a,size=1M"), -1);
    /* queues: 1..8, a number and nothing else. */
    assert_int_equal(PARSE(&o, "--kernel", "k", "--disk", "socket=/a,size=1M,queues=8"), 0);
    assert_int_equal(o.disks[0].queues, 8);
    const char *bad[] = {"queues=0", "queues=9", "queues=", "queues=2x", "queues=-1", "queues=99999999999999999999"};
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char spec[96];
        snprintf(spec, sizeof(spec), "socket=/a,size=1M,%s", bad[i]);
        assert_int_equal(PARSE(&o, "--kernel", "k", "--disk", spec), -1);
    }
    /* Eight disks at most (the XML's bound). */
    char specs[9][32];
    char *argv[3 + 2 * 9 + 1];
    int argc = 0;
    argv[argc++] = "xeno-vmm";
    argv[argc++] = "--kernel";
    argv[argc++] = "k";
    for (unsigned i = 0; i < 9; i++) {
        snprintf(specs[i], sizeof(specs[i]), "socket=/d%u,size=1M", i);
        argv[argc++] = "--disk";
        argv[argc++] = specs[i];
    }
    argv[argc] = NULL;
    char *last = argv[argc - 2];
    argv[argc - 2] = NULL; /* eight */
    assert_int_equal(options_parse(argc - 2, argv, &o), 0);
    assert_int_equal(o.ndisks, 8);
    argv[argc - 2] = last; /* nine */
    assert_int_equal(options_parse(argc, argv, &o), -1);
}

/* --restore FILE [--restore-eager] [--domain-xml FILE]. */
static void restore_options(void **state)
{
    (void)state;
    struct options o;
    assert_int_equal(PARSE(&o, "--restore", "s.snap"), 0);
    assert_string_equal(o.restore, "s.snap");
    assert_int_equal(o.restore_eager, 0); /* lazy by default */
    assert_null(o.domain_xml);
    assert_int_equal(PARSE(&o, "--restore", "s.snap", "--restore-eager", "--domain-xml", "d.xml"), 0);
    assert_int_equal(o.restore_eager, 1);
    assert_string_equal(o.domain_xml, "d.xml");
    assert_int_equal(PARSE(&o, "--kernel", "k", "--domain-xml", "d.xml"), 0);
    assert_string_equal(o.domain_xml, "d.xml");
    assert_int_equal(PARSE(&o, "--kernel", "k", "--restore-eager"), -1); /* needs --restore */
    assert_int_equal(PARSE(&o, "--restore", "s.snap", "--kernel", "k"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test(actions),
        cmocka_unit_test(bad_actions),
        cmocka_unit_test(daemon_options),
        cmocka_unit_test(daemon_options_checked),
        cmocka_unit_test(cpu_options),
        cmocka_unit_test(net_option),
        cmocka_unit_test(disk_option),
        cmocka_unit_test(disk_option_many),
        cmocka_unit_test(restore_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
