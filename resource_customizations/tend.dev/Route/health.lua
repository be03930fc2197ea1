-- Argo CD health of a tend.dev Route, from the conditions its controller writes.
-- Base and table libraries only: Argo CD runs argocd-cm overrides without string, math or os.
local hs = {}
local generation = obj.metadata.generation
local status = obj.status
if status == nil or status.observedGeneration == nil or (generation ~= nil and status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the Route controller to observe generation " .. tostring(generation)
  return hs
end
local conditions = {}
for _, c in ipairs(status.conditions or {}) do
  conditions[c.type] = c
end
local ready = conditions["Ready"]
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Route controller to report Ready"
  return hs
end

-- Ready False for these needs someone to act: a host the tenant may not serve, a missing App, a
-- certificate (spec.tls) that cannot be served or has expired.
local degraded = {
  NoTenant = true, HostNotAllowed = true, HostConflict = true, QuotaExceeded = true, AppNotFound = true,
  SecretNotFound = true, InvalidCertificate = true, KeyMismatch = true, CertificateHostMismatch = true,
  IssuerNotFound = true, IssuerRefused = true, NoCertificatesKey = true, CertificateConflict = true,
  CertificateExpired = true,
}
-- Ready False for these passes by itself: the App's instances becoming ready, the first report, a
-- certificate being issued (or one the host shares being issued).
local progressing = { NoHealthyBackends = true, NotYetReported = true, Issuing = true, CertificatePending = true }

if ready.status ~= "True" then
  hs.message = ready.message
  if ready.reason == "TenantSuspended" then
    hs.status = "Suspended"
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
hs.status = "Healthy"
hs.message = ready.message
-- Still Healthy with a certificate near its end, but the message says so (CertificateReady
-- reasons Valid, Issued and Shared, and CertificateExpiring NotExpiring, change nothing;
-- CertificateExpiring Expired comes with Ready=False CertificateExpired, Degraded above).
local expiring = conditions["CertificateExpiring"]
if expiring ~= nil and expiring.status == "True" and expiring.reason == "ExpiresSoon" then
  hs.message = expiring.message
end
return hs
