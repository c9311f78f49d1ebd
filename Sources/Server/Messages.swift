import Analytics
import FidelisProto
import Foundation
import Store

/// The API messages of the store's records: what the services answer with.
extension Fidelis_V1_JobState {
  init(_ state: JobState) {
    switch state {
    case .queued: self = .queued
    case .running: self = .running
    case .succeeded: self = .succeeded
    case .failed: self = .failed
    case .cancelled: self = .cancelled
    }
  }

  var storeState: JobState? {
    switch self {
    case .queued: .queued
    case .running: .running
    case .succeeded: .succeeded
    case .failed: .failed
    case .cancelled: .cancelled
    default: nil
    }
  }
}

extension Coordinator {
  func message(_ tenant: TenantRecord) -> Fidelis_V1_Tenant {
    .with {
      $0.id = tenant.id
      $0.name = tenant.name
      $0.createdAtUnixMs = tenant.createdAt
      $0.defaultLanguage = tenant.defaultLanguage
      $0.defaultCurrency = tenant.defaultCurrency
      $0.limits = .with {
        $0.maxQueuedJobs = Int32(tenant.maxQueuedJobs)
        $0.maxRunningJobs = Int32(tenant.maxRunningJobs)
        $0.maxDatasetBytes = tenant.maxDatasetBytes
        $0.maxStorageBytes = tenant.maxStorageBytes
        $0.keepVersions = Int32(tenant.keepVersions)
        $0.keepReports = Int32(tenant.keepReports)
      }
    }
  }

  func message(_ dataset: DatasetRecord) -> Fidelis_V1_Dataset {
    .with {
      $0.id = dataset.id
      $0.name = dataset.name
      $0.sizeBytes = dataset.sizeBytes
      $0.sha256 = dataset.sha256
      $0.createdAtUnixMs = dataset.createdAt
      $0.kind = dataset.kind
      $0.version = Int32(dataset.version)
      $0.contentBytes = dataset.contentBytes
      if let base = dataset.baseId {
        $0.append = .with {
          $0.baseVersionID = base
          $0.rule = dataset.appendRule ?? ""
          $0.linesAdded = Int64(dataset.linesAdded)
          $0.linesSkipped = Int64(dataset.linesSkipped)
          $0.linesReplaced = Int64(dataset.linesReplaced)
          $0.daysReplaced = Int64(dataset.daysReplaced)
          $0.replacedFrom = dataset.replacedFrom.map(isoDate) ?? ""
          $0.replacedThrough = dataset.replacedThrough.map(isoDate) ?? ""
        }
      }
    }
  }

  /// The API form of a job, with its attempts and report formats when asked.
  func message(_ job: JobRecord, details: Bool) throws -> Fidelis_V1_Job {
    var message = Fidelis_V1_Job.with {
      $0.id = job.id
      $0.tenantID = job.tenantId
      $0.datasetID = job.datasetId
      $0.datasetName = job.datasetName ?? ""
      $0.kind = job.kind
      $0.options = (try? Fidelis_V1_JobOptions(serializedBytes: job.options)) ?? .init()
      $0.state = .init(job.state)
      $0.attempt = Int32(job.attempt)
      $0.maxAttempts = Int32(job.maxAttempts)
      $0.stage = job.stage
      $0.progressPercent = job.progress
      $0.error = job.error ?? ""
      $0.cancelRequested = job.cancelRequested
      $0.createdAtUnixMs = job.createdAt
      $0.startedAtUnixMs = job.startedAt ?? 0
      $0.finishedAtUnixMs = job.finishedAt ?? 0
    }
    if details {
      message.attempts = try mapStoreErrors { try store.attempts(jobId: job.id) }.map { attempt in
        .with {
          $0.number = Int32(attempt.number)
          $0.worker = attempt.worker
          $0.host = attempt.host
          $0.startedAtUnixMs = attempt.startedAt
          $0.endedAtUnixMs = attempt.endedAt ?? 0
          $0.outcome = attempt.outcome
          $0.error = attempt.error ?? ""
          $0.workerCertificate = attempt.workerCertificate ?? ""
        }
      }
      if job.state == .succeeded { message.reportFormats = try mapStoreErrors { try store.artifactFormats(jobId: job.id) } }
    }
    return message
  }
}
