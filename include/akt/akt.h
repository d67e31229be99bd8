// akt/akt.h — everything a user of the local runtime needs, in one include.
#pragma once

#include "akt/actor.h"
#include "akt/context.h"
#include "akt/events.h"
#include "akt/logger.h"
#include "akt/mailbox.h"
#include "akt/message.h"
#include "akt/messages.h"
#include "akt/pid.h"
#include "akt/spawn_options.h"
#include "akt/status.h"
#include "akt/supervisor.h"
#include "akt/system.h"
