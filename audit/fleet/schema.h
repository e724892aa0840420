// The fleet database's schema, versioned: `hopgate_schema` holds one row per
// migration applied. Migrate() brings an empty or older database up to date
// inside one transaction holding a transaction-scoped advisory lock, so
// replicas starting at the same moment take turns: the first migrates, the
// others then find nothing to do. A database newer than this hopgate is an
// error (run the newer version, or roll the database back).
#pragma once

#include "audit/fleet/pg.h"
#include "common/result.h"

namespace hopgate::audit::fleet {

// The schema version this hopgate writes.
int SchemaVersion();

// Applies the migrations `db` lacks; returns the version it is at.
Result<int> Migrate(Pg& db);

}  // namespace hopgate::audit::fleet
