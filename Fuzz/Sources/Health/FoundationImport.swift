// CheckSpec.swift uses Foundation string methods that the main Health target imports in its other files.
import Foundation
