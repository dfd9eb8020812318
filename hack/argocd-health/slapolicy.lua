-- Argo CD health check for modelserve.io/SLAPolicy.
--   Progressing no status yet, stale observedGeneration, or compliance not evaluated yet
--   Degraded    status.compliant == false (an objective is below target / error budget exhausted)
--   Healthy     status.compliant == true
local hs = {}
local status = obj.status
if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the modelserve operator to evaluate the SLOs"
  return hs
end

local generation = obj.metadata.generation
if status.observedGeneration ~= nil and generation ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local budget = ""
if status.errorBudgetRemainingPercent ~= nil then
  budget = string.format("error budget remaining %.1f%%", status.errorBudgetRemainingPercent)
end

if status.compliant == false then
  hs.status = "Degraded"
  hs.message = "SLO not met"
  if budget ~= "" then
    hs.message = hs.message .. ", " .. budget
  end
  return hs
end
if status.compliant == true then
  hs.status = "Healthy"
  hs.message = "All objectives met"
  if budget ~= "" then
    hs.message = hs.message .. ", " .. budget
  end
  return hs
end

hs.status = "Progressing"
hs.message = "Compliance not evaluated yet"
return hs
