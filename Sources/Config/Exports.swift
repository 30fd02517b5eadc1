// IPAddress, IPNetwork and the region types live in Geo; every user of Config sees them.
@_exported import Geo
