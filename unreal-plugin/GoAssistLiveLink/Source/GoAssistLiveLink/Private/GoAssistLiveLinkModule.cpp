// The module has no start-up work: sources are created from the Live Link panel (or from
// Blueprint/C++ with the factory) and own their sockets and threads.
#include "Modules/ModuleManager.h"

IMPLEMENT_MODULE(FDefaultModuleImpl, GoAssistLiveLink)
