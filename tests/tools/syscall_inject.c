/* syscall_inject TID NR [ARG0 [ARG1 [ARG2]]]: makes thread TID of another process execute
 * system call NR with those arguments, as if its own code had made it (tests/integration/
 * vmm_sandbox.sh: a sandboxed monitor must die of SIGSYS for a call its allow-list lacks).
 *
 * How: PTRACE_SEIZE + PTRACE_INTERRUPT stop the thread; a thread stopped in a system call
 * (a vCPU in KVM_RUN, any thread in poll or futex) has its instruction pointer just after a
 * `syscall` instruction (0f 05). The registers are set to run that instruction again with our
 * number and arguments (orig_rax -1: no restart of the interrupted call), and the thread is
 * let go. x86-64 only. Exit 0 once the thread runs on with the call set up, 1 on failure. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

static long arg(int argc, char **argv, int i)
{
    return i < argc ? strtol(argv[i], NULL, 0) : 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: syscall_inject TID NR [ARG0 [ARG1 [ARG2]]]\n");
        return 1;
    }
    pid_t tid = (pid_t)atoi(argv[1]);
    if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) < 0 || ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0) {
        fprintf(stderr, "syscall_inject: ptrace %d: %s\n", (int)tid, strerror(errno));
        return 1;
    }
    int st;
    if (waitpid(tid, &st, __WALL) < 0) {
        fprintf(stderr, "syscall_inject: waitpid: %s\n", strerror(errno));
        return 1;
    }
    struct user_regs_struct r;
    if (ptrace(PTRACE_GETREGS, tid, NULL, &r) < 0) {
        fprintf(stderr, "syscall_inject: GETREGS: %s\n", strerror(errno));
        return 1;
    }
    errno = 0;
    long word = ptrace(PTRACE_PEEKTEXT, tid, (void *)(r.rip - 2), NULL);
    if (errno || (word & 0xffff) != 0x050f) {
        fprintf(stderr, "syscall_inject: thread %d is not stopped after a syscall instruction (rip %llx)\n", (int)tid,
                (unsigned long long)r.rip);
        ptrace(PTRACE_DETACH, tid, NULL, NULL);
        return 1;
    }
    r.rip -= 2;
    r.orig_rax = (unsigned long long)-1;
    r.rax = (unsigned long long)arg(argc, argv, 2);
    r.rdi = (unsigned long long)arg(argc, argv, 3);
    r.rsi = (unsigned long long)arg(argc, argv, 4);
    r.rdx = (unsigned long long)arg(argc, argv, 5);
    if (ptrace(PTRACE_SETREGS, tid, NULL, &r) < 0 || ptrace(PTRACE_DETACH, tid, NULL, NULL) < 0) {
        fprintf(stderr, "syscall_inject: SETREGS/DETACH: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}
