#include "vmm/state/move_hold.h"

bool move_device_held(enum move_phase phase, bool backend_logs)
{
    switch (phase) {
    case MOVE_PRECOPY: return !backend_logs;
    case MOVE_SAVE:
    case MOVE_FINAL_STOP:
    case MOVE_RESTORE: break;
    }
    return true;
}
