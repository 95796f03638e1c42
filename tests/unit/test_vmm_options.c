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

/* --disk socket=PATH,size=BYTES[,readonly]: one virtio-blk disk. */
static void disk_option(void **state)
{
    (void)state;
    struct options o;
    assert_int_equal(PARSE(&o, "--kernel", "k"), 0);
    assert_int_equal(o.have_disk, 0);
    assert_int_equal(PARSE(&o, "--kernel", "k", "--disk", "socket=/tmp/d.sock,size=4M"), 0);
    assert_int_equal(o.have_disk, 1);
    assert_string_equal(o.disk.socket_path, "/tmp/d.sock");
    assert_int_equal(o.disk.capacity, 4u << 20);
    assert_false(o.disk.readonly);
    assert_int_equal(PARSE(&o, "--kernel", "k", "--disk", "readonly,size=1024,socket=/s"), 0);
    assert_true(o.disk.readonly);
    assert_int_equal(o.disk.capacity, 1024);
    assert_int_equal(PARSE(&o, "--kernel", "k", "--disk", "socket=/s"), -1);           /* no size */
    assert_int_equal(PARSE(&o, "--kernel", "k", "--disk", "size=1M"), -1);             /* no socket */
    assert_int_equal(PARSE(&o, "--kernel", "k", "--disk", "socket=/s,size=1000"), -1); /* not whole sectors */
    assert_int_equal(PARSE(&o, "--kernel", "k", "--disk", "socket=/s,size=0"), -1);
    assert_int_equal(PARSE(&o, "--kernel", "k", "--disk", "socket=/s,size=1M,cache=none"), -1);
    assert_int_equal(PARSE(&o, "--kernel", "k", "--disk", "socket=/a,size=1M", "--disk", "socket=/b,size=1M"), -1);
}

/* --disk ...,image=NAME,image-dir=DIR: the image a save or a migration records. */
static void disk_image_option(void **state)
{
    (void)state;
    struct options o;
    assert_int_equal(PARSE(&o, "--kernel", "k", "--disk", "socket=/s,size=1M"), 0);
    assert_null(o.disk.image);
    assert_null(o.disk.image_dir);
    assert_int_equal(PARSE(&o, "--kernel", "k", "--disk", "socket=/s,size=1M,image=web/vda.img,image-dir=/var/img"), 0);
    assert_string_equal(o.disk.image, "web/vda.img");
    assert_string_equal(o.disk.image_dir, "/var/img");
    static char *const bad[] = {
        "socket=/s,size=1M,image=a.img",                        /* without image-dir */
        "socket=/s,size=1M,image-dir=/var/img",                 /* without image */
        "socket=/s,size=1M,image=/abs.img,image-dir=/d",        /* absolute */
        "socket=/s,size=1M,image=../up.img,image-dir=/d",       /* leaves the directory */
        "socket=/s,size=1M,image=a/../b.img,image-dir=/d",      /* a '..' component */
        "socket=/s,size=1M,image=a//b.img,image-dir=/d",        /* an empty component */
        "socket=/s,size=1M,image=./b.img,image-dir=/d",         /* a '.' component */
        "socket=/s,size=1M,image=a\\b.img,image-dir=/d",        /* a backslash */
        "socket=/s,size=1M,image=a\tb.img,image-dir=/d",        /* a control character */
        "socket=/s,size=1M,image=,image-dir=/d",                /* empty */
        "socket=/s,size=1M,image=a.img,image-dir=relative/dir", /* a relative directory */
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(PARSE(&o, "--kernel", "k", "--disk", bad[i]), -1);
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
        cmocka_unit_test(disk_image_option),
        cmocka_unit_test(restore_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
