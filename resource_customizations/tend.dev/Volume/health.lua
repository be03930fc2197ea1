-- Argo CD health of a tend.dev Volume, from the conditions its controller writes.
-- Base and table libraries only: Argo CD runs argocd-cm overrides without string, math or os.
local hs = {}
local generation = obj.metadata.generation
local status = obj.status
if status == nil or status.observedGeneration == nil or (generation ~= nil and status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the Volume controller to observe generation " .. tostring(generation)
  return hs
end
local conditions = {}
for _, c in ipairs(status.conditions or {}) do
  conditions[c.type] = c
end
local ready = conditions["Ready"]
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Volume controller to report Ready"
  return hs
end

-- Ready False for these needs someone to act: a node, a quota, a restore source, data over size.
local degraded = {
  NoTenant = true, RestoreNotAllowed = true, QuotaExceeded = true, NodeNotFound = true,
  NodeLost = true, ProvisioningFailed = true, SizeExceeded = true,
}
-- Ready False for these passes by itself: the agent creating or restoring it, a deletion, a first report.
local progressing = { NotBound = true, Provisioning = true, Restoring = true, Deleting = true, DeletionBlocked = true, NotYetReported = true }

if ready.status ~= "True" then
  hs.message = ready.message
  if ready.reason == "WaitingForFirstConsumer" then
    -- Bound when the first App that mounts it is placed: as ready as it can be until then, so
    -- the sync wave of that App can start.
    hs.status = "Healthy"
  elseif degraded[ready.reason] then
    hs.status = "Degraded"
  elseif progressing[ready.reason] then
    hs.status = "Progressing"
  else
    -- A reason newer than this script: Progressing, as Argo CD says of what it cannot judge yet.
    hs.status = "Progressing"
    hs.message = tostring(ready.reason) .. ": " .. tostring(ready.message)
  end
  return hs
end
-- The data is usable, but no backup protects it (BackedUp=False: BackupOverdue, InvalidSchedule):
-- worth a person's attention.
local backedUp = conditions["BackedUp"]
if backedUp ~= nil and backedUp.status == "False" then
  hs.status = "Degraded"
  hs.message = backedUp.message
  return hs
end
hs.status = "Healthy"
if conditions["Bound"] ~= nil then
  hs.message = conditions["Bound"].message
else
  hs.message = ready.message
end
return hs
