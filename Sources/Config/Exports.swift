// IPAddress, IPNetwork and the region types live in Geo; the service model (pools, services, policies) lives in
// Policy; the YAML reader and the duration/TTL grammars live in ConfigText. Every user of Config sees them.
@_exported import ConfigText
@_exported import Geo
@_exported import Policy
