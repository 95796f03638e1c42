/* xeno-vmm: the per-domain monitor, standalone. Boots one PVH kernel with its serial console
 * on stdin/stdout and exits with a status that says how the guest ended (docs/machine.md). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/file.h"
#include "lib/log.h"
#include "lib/parse.h"
#include "vmm/console.h"
#include "vmm/vm.h"

struct options {
    const char *kernel, *initrd, *cmdline;
    uint64_t mem_size;
    unsigned nvcpus;
    int restart_on_reboot;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: xeno-vmm --kernel FILE [--initrd FILE] [--cmdline STR] [--memory SIZE] [--vcpus N]\n"
            "                [--on-reboot exit|restart] [--verbose]\n"
            "\n"
            "Boots a PVH ELF kernel in a KVM virtual machine; its serial console (COM1) is this\n"
            "program's stdin and stdout. On a terminal, Ctrl-] stops the domain.\n"
            "\n"
            "  --kernel FILE     ELF kernel with a Xen PVH entry note (required)\n"
            "  --initrd FILE     initial ramdisk, passed as the PVH module\n"
            "  --cmdline STR     kernel command line (at most 4095 bytes)\n"
            "  --memory SIZE     guest RAM, e.g. 64M, 1G (default 64M; a bare number is MiB)\n"
            "  --vcpus N         virtual CPUs, 1 to %d (default 1)\n"
            "  --on-reboot WHAT  on a guest reset: exit (status 2, default) or restart\n"
            "\n"
            "Exit status: 0 powered off, 1 bad input, 2 reboot, 3 guest crashed, 4 host failure,\n"
            "128+N stopped by signal N.\n",
            VM_MAX_VCPUS);
}

static int host_ram(uint64_t *bytes)
{
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || psize <= 0)
        return -1;
    *bytes = (uint64_t)pages * (uint64_t)psize;
    return 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"kernel", required_argument, NULL, 'k'}, {"initrd", required_argument, NULL, 'i'},
        {"cmdline", required_argument, NULL, 'c'}, {"memory", required_argument, NULL, 'm'},
        {"vcpus", required_argument, NULL, 'n'},   {"on-reboot", required_argument, NULL, 'r'},
        {"verbose", no_argument, NULL, 'v'},       {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    uint64_t v;
    int c;
    *o = (struct options){.cmdline = "", .mem_size = 64ULL << 20, .nvcpus = 1};
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'k':
            o->kernel = optarg;
            break;
        case 'i':
            o->initrd = optarg;
            break;
        case 'c':
            o->cmdline = optarg;
            break;
        case 'm': {
            uint64_t ram;
            if (parse_size(optarg, 1ULL << 20, &v) < 0) {
                log_error("--memory: %s", err_msg());
                return -1;
            }
            if (v < VM_MIN_MEMORY || v % 4096) {
                log_error("--memory %s: must be at least %llu MiB and a multiple of 4 KiB", optarg,
                          VM_MIN_MEMORY >> 20);
                return -1;
            }
            if (host_ram(&ram) == 0 && v > ram) {
                log_error("--memory %s: more than this host's %llu MiB of RAM", optarg, (unsigned long long)(ram >> 20));
                return -1;
            }
            o->mem_size = v;
            break;
        }
        case 'n':
            if (parse_u64_range(optarg, 1, VM_MAX_VCPUS, &v) < 0) {
                log_error("--vcpus: %s", err_msg());
                return -1;
            }
            o->nvcpus = (unsigned)v;
            break;
        case 'r':
            if (strcmp(optarg, "restart") == 0)
                o->restart_on_reboot = 1;
            else if (strcmp(optarg, "exit") == 0)
                o->restart_on_reboot = 0;
            else {
                log_error("--on-reboot '%s': expected exit or restart", optarg);
                return -1;
            }
            break;
        case 'v':
            log_init("xeno-vmm", LOG_DEBUG);
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case '?':
        default:
            if (optopt)
                log_error("option -%c is unknown or needs a value (see --help)", optopt);
            else
                log_error("option '%s' is unknown or needs a value (see --help)", argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        log_error("unexpected argument '%s' (see --help)", argv[optind]);
        return -1;
    }
    if (!o->kernel) {
        log_error("no kernel given: use --kernel FILE (see --help)");
        return -1;
    }
    return 0;
}

/* Pumps console input and waits until the domain stops; returns the signal that stopped it, or 0. */
static int wait_for_stop(struct vm *vm, struct console *con, int sig_fd)
{
    int signo = 0;
    for (;;) {
        struct pollfd p[4] = {{vm->stop_efd, POLLIN, 0}, {vm->rx_space_efd, POLLIN, 0}, {sig_fd, POLLIN, 0},
                              {con->in_fd, POLLIN, 0}};
        nfds_t n = console_wants_input(con) ? 4 : 3;
        if (poll(p, n, -1) < 0) {
            if (errno == EINTR)
                continue;
            vm_request_stop(vm, VM_HOST_ERROR, "poll: %s", strerror(errno));
            return 0;
        }
        if (p[0].revents)
            return signo;
        if (p[1].revents) {
            uint64_t cnt;
            if (read(vm->rx_space_efd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
                log_warn("console wakeup: %s", strerror(errno));
        }
        if (p[2].revents) {
            struct signalfd_siginfo si;
            if (read(sig_fd, &si, sizeof(si)) == sizeof(si)) {
                signo = (int)si.ssi_signo;
                vm_request_stop(vm, VM_SIGNALLED, "stopped by signal %s", strsignal(signo));
            }
        }
        if (n == 4 && p[3].revents)
            console_read(con);
        if (con->escaped && !signo) {
            signo = SIGINT;
            vm_request_stop(vm, VM_SIGNALLED, "stopped from the console (Ctrl-])");
        }
        console_feed(con, &vm->com1);
    }
}

/* A closed stdin/stdout/stderr would hand its number to /dev/kvm or the guest RAM memfd,
 * and console traffic would go there; park /dev/null on them instead. */
static void reserve_std_fds(void)
{
    for (int fd = 0; fd < 3; fd++) {
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
            int n = open("/dev/null", O_RDWR);
            if (n >= 0 && n != fd) {
                dup2(n, fd);
                close(n);
            }
        }
    }
}

int main(int argc, char **argv)
{
    struct options o;
    struct file_map kernel = {0}, initrd = {0};
    struct console con;
    struct vm vm;
    sigset_t sigs;
    int status, r;

    reserve_std_fds();
    log_init("xeno-vmm", LOG_INFO);
    if (parse_options(argc, argv, &o) < 0)
        return EXIT_BAD_INPUT;
    if (file_map_open(&kernel, o.kernel, "kernel") < 0 ||
        (o.initrd && file_map_open(&initrd, o.initrd, "initrd") < 0)) {
        log_error("%s", err_msg());
        file_map_close(&kernel);
        return EXIT_BAD_INPUT;
    }

    /* Signals arrive on a descriptor in the main loop; vCPU threads inherit the mask. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    sigdelset(&sigs, SIGUSR1);
    int sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
    signal(SIGPIPE, SIG_IGN);
    if (sig_fd < 0 || console_open(&con, STDIN_FILENO) < 0) {
        log_error("%s", sig_fd < 0 ? strerror(errno) : err_msg());
        return EXIT_HOST_ERROR;
    }

    for (;;) {
        struct vm_config cfg = {.mem_size = o.mem_size, .nvcpus = o.nvcpus, .console_out_fd = STDOUT_FILENO};
        if ((r = vm_create(&vm, &cfg)) < 0) {
            log_error("%s", err_msg());
            status = EXIT_HOST_ERROR;
            break;
        }
        if ((r = vm_load_pvh(&vm, kernel.data, kernel.len, o.kernel, o.cmdline, o.initrd ? initrd.data : NULL,
                             initrd.len)) < 0) {
            log_error("%s", err_msg());
            status = EXIT_BAD_INPUT;
            break;
        }
        if (vm_start(&vm) < 0)
            log_error("%s", err_msg());
        int signo = wait_for_stop(&vm, &con, sig_fd);
        vm_join(&vm);
        switch (vm.outcome) {
        case VM_POWEROFF:
            log_info("%s", vm.reason);
            status = EXIT_POWEROFF;
            break;
        case VM_REBOOT:
            log_info("%s%s", vm.reason, o.restart_on_reboot ? "; restarting" : "");
            status = EXIT_REBOOT;
            break;
        case VM_CRASH:
            log_error("guest crashed: %s", vm.reason);
            status = EXIT_CRASH;
            break;
        case VM_SIGNALLED:
            log_info("%s", vm.reason);
            status = 128 + signo;
            break;
        default:
            log_error("%s", vm.reason);
            status = EXIT_HOST_ERROR;
            break;
        }
        if (vm.outcome == VM_REBOOT && o.restart_on_reboot) {
            vm_destroy(&vm);
            continue;
        }
        break;
    }
    vm_destroy(&vm);
    console_close(&con);
    close(sig_fd);
    file_map_close(&kernel);
    file_map_close(&initrd);
    return status;
}
