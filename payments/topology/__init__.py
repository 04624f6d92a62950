"""The seed's topology diagram, drawn from live data as a server-rendered SVG."""

from payments.topology.layout import topology_diagram, topology_diagrams
from payments.topology.shapes import Diagram

__all__ = ["Diagram", "topology_diagram", "topology_diagrams"]
